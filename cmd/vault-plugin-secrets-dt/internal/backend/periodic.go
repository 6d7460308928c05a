package backend

import (
	"context"
	"errors"
	"slices"

	"github.com/hashicorp/vault/sdk/logical"
)

// periodic is the engine's PeriodicFunc, which Vault's rollback manager
// calls about once a minute on every node of a cluster (OpenBao 2.6 starts
// the manager on standbys too: vault/core.go, readonlyUnsealStrategy). It
// acts only where storage can be written, the active node: it rotates the
// accounts whose rotation_period has come round, and finishes or recovers
// from the rotations left unfinished (a staged key, an old key to delete,
// an expired lease), one account after another within Vault's deadline.
// An account whose last periodic run failed waits out its back-off
// (RetryAt): while DT fails, the account is skipped, keeping the key it
// has, and each failure is logged.
func (b *Backend) periodic(ctx context.Context, req *logical.Request) error {
	if !b.WriteSafeReplicationState() {
		return nil
	}
	names, err := req.Storage.List(ctx, accountPrefix)
	if err != nil {
		return err
	}
	leases, err := req.Storage.List(ctx, leasePrefix)
	if err != nil {
		return err
	}
	for _, name := range names {
		if ctx.Err() != nil {
			return nil // the rest at the next run
		}
		a, err := b.getAccount(ctx, req.Storage, name)
		if err != nil || a == nil {
			if err != nil {
				b.Logger().Warn("periodic rotation: reading the account failed", "account", name, "error", err.Error())
			}
			continue
		}
		now := b.now()
		due := a.RotationPeriod != 0 && !now.Before(a.NextRotation)
		if !due && !a.unfinished() && !slices.Contains(leases, name) || now.Before(a.RetryAt) {
			continue
		}
		if _, err := b.rotate(ctx, req.Storage, name, triggerPeriodic, due); errors.Is(err, errBusy) {
			b.Logger().Debug("periodic rotation skipped", "account", name, "reason", err.Error())
		}
	}
	return nil
}
