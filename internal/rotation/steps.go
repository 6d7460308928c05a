package rotation

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/serviceaccount"
)

// fresh rotates a profile with no rotation recorded: list the account's
// keys, record the rotation, create a key, stage it, then prove, switch
// and finish.
func (r *run) fresh(ctx context.Context) error {
	keyID := r.acct.Credentials.KeyID
	keys, err := r.listKeys(ctx)
	if err != nil {
		return err
	}
	before := serviceaccount.KeyIDs(keys)
	if !slices.Contains(before, keyID) {
		return fmt.Errorf("profile %q: its key %s is not a key of %s; nothing was changed: name the service account with --project and --service-account",
			r.cfg.Name, keyID, r.cfg.ID)
	}
	// The create below is sent within moments and given up after
	// cfg.Timeout: the window its key falls in, should its answer be lost.
	window := serviceaccount.CreateWindowOf(r.cfg.Now(), r.cfg.Timeout)
	if err := r.cfg.Profiles.BeginRotation(ctx, r.cfg.Name, keyID, r.cfg.ID, before, window); err != nil {
		return err
	}
	r.cfg.Log.Debug("rotation recorded; creating a key", "profile", r.cfg.Name, "service_account", r.cfg.ID.String())
	sctx, cancel := r.step(ctx)
	nk, err := r.api.CreateKey(sctx, r.cfg.ID)
	cancel()
	if err != nil {
		return r.createFailed(ctx, err)
	}
	r.cfg.Log.Debug("key created; storing its secret", "key_id", nk.ID)
	if err := r.cfg.Profiles.StageKey(ctx, r.cfg.Name, keyID, nk.ID, nk.CreateTime, nk.Secret); err != nil {
		return r.giveUp(ctx, nk.ID, fmt.Errorf("the new key's secret could not be stored: %w", err))
	}
	return r.proveAndSwitch(ctx, nk.Key, nk.Secret)
}

// listKeys lists the service account's keys; a listing that fails (DT's
// answer unusable too: an id that is not an id, too many keys) changes
// nothing.
func (r *run) listKeys(ctx context.Context) ([]serviceaccount.Key, error) {
	sctx, cancel := r.step(ctx)
	defer cancel()
	keys, err := r.api.ListKeys(sctx, r.cfg.ID)
	switch {
	case err == nil:
		return keys, nil
	case isNoRight(err):
		err = r.errNoRight(err)
	case errors.Is(err, serviceaccount.ErrNotFound):
		err = fmt.Errorf("%w: check --project and --service-account", err)
	}
	return nil, fmt.Errorf("profile %q: nothing was changed: %w", r.cfg.Name, err)
}

// createFailed ends a rotation whose create failed: one DT refused
// created nothing and leaves the profile as it was; any other may have
// created a key, which the record lets the next run report.
func (r *run) createFailed(ctx context.Context, err error) error {
	if serviceaccount.MayHaveCreated(err) {
		return fmt.Errorf("profile %q keeps key %s: %w; DT may have created a key all the same: "+
			"run rotate again, which reports a key created and not stored", r.cfg.Name, r.acct.Credentials.KeyID, err)
	}
	if isNoRight(err) {
		err = r.errNoRight(err)
	}
	if eerr := r.cfg.Profiles.EndRotation(ctx, r.cfg.Name, r.acct.Credentials.KeyID); eerr != nil {
		return fmt.Errorf("profile %q keeps key %s: %w; and its rotation record could not be cleared: %v", r.cfg.Name, r.acct.Credentials.KeyID, err, eerr)
	}
	return fmt.Errorf("profile %q: nothing was changed: %w", r.cfg.Name, err)
}

// giveUp deletes new key keyID at DT and ends the rotation before its
// switch (the key's secret, if stored, goes too): the profile keeps its
// key. why is what went wrong.
func (r *run) giveUp(ctx context.Context, keyID string, why error) error {
	sctx, cancel := r.step(ctx)
	err := r.api.DeleteKeyGone(sctx, r.cfg.ID, keyID)
	cancel()
	if err != nil {
		r.rep.Warnings = append(r.rep.Warnings, fmt.Errorf("the new key %s could not be deleted at DT: %w; delete it in DT Studio", keyID, err))
	}
	if err := r.cfg.Profiles.EndRotation(ctx, r.cfg.Name, r.acct.Credentials.KeyID); err != nil {
		r.rep.Warnings = append(r.rep.Warnings, err)
	}
	return fmt.Errorf("profile %q keeps key %s: %w; the new key %s was given up", r.cfg.Name, r.acct.Credentials.KeyID, why, keyID)
}

// prove exchanges key keyID (with secret) for a token, for at most
// cfg.ProveFor when set; Prove bounds itself by serviceaccount.ProveFor.
func (r *run) prove(ctx context.Context, keyID, secret string) (*oauth2.Token, error) {
	if d := r.cfg.ProveFor; d != 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	return serviceaccount.Prove(ctx, r.creds(keyID, secret), r.opts...)
}

// proveAndSwitch proves the staged key key (with secret) obtains a token,
// switches the profile to it and finishes. A key DT does not accept is
// given up; one that could not be tried stays staged for a rerun.
func (r *run) proveAndSwitch(ctx context.Context, key serviceaccount.Key, secret string) error {
	oldKeyID := r.acct.Credentials.KeyID
	tok, err := r.prove(ctx, key.ID, secret)
	switch {
	case auth.IsRejected(err):
		return r.giveUp(ctx, key.ID, fmt.Errorf("DT does not accept the new key: %w", err))
	case err != nil:
		return fmt.Errorf("profile %q keeps key %s: the new key %s, stored beside it, could not be tried: %w; run rotate again to finish",
			r.cfg.Name, oldKeyID, key.ID, err)
	}
	r.cfg.Log.Debug("the new key obtained a token; switching the profile to it", "key_id", key.ID)
	if err := r.cfg.Profiles.SwitchKey(ctx, r.cfg.Name, oldKeyID); err != nil {
		return r.switchFailed(ctx, key.ID, oldKeyID, err)
	}
	if err := r.useToken(tok); err != nil {
		return err
	}
	return r.finish(ctx, key.ID, oldKeyID)
}

// switchFailed says what is true once the switch from key oldKeyID to the
// staged key keyID failed (err). While the profile, read afresh, still
// records keyID staged, the key stays for a rerun. A profile that no
// longer does was logged in again or removed meanwhile (by a program that
// does not take the rotation lock): keyID, whose secret only that record
// named, is no profile's, and is deleted at DT.
func (r *run) switchFailed(ctx context.Context, keyID, oldKeyID string, err error) error {
	name := r.cfg.Name
	a, cerr := r.cfg.Profiles.Current(ctx, name)
	if cerr != nil && !errors.Is(cerr, profile.ErrChanged) || cerr == nil && (a.Credentials.KeyID == keyID || a.Rotation.Staged() && a.Rotation.NewKeyID == keyID) {
		return fmt.Errorf("profile %q keeps key %s: the new key %s works and is stored beside it, but the profile could not be switched: %w; run rotate again to finish",
			name, oldKeyID, keyID, err)
	}
	sctx, cancel := r.step(ctx)
	derr := r.api.DeleteKeyGone(sctx, r.cfg.ID, keyID)
	cancel()
	fate := "so it was deleted at DT"
	if derr != nil {
		fate = fmt.Sprintf("but it could not be deleted at DT (%v): delete it in DT Studio", derr)
	}
	return fmt.Errorf("profile %q %w (logged in again or removed), so it was not switched to the new key %s, which no profile holds now, %s",
		name, profile.ErrChanged, keyID, fate)
}

// finish ends a switched rotation, from key oldKeyID to newKeyID: the old
// key's cached tokens go, the old key is deleted at DT (unless kept), and
// its secret here; all only while the profile, read afresh, still uses
// newKeyID with that rotation recorded: a login or logout since (by a
// program that does not take the rotation lock) may use the old key now.
func (r *run) finish(ctx context.Context, newKeyID, oldKeyID string) error {
	name := r.cfg.Name
	a, err := r.cfg.Profiles.Current(ctx, name)
	if err == nil && (a.Credentials.KeyID != newKeyID || !a.Rotation.Switched() || a.Rotation.OldKeyID != oldKeyID) {
		err = fmt.Errorf("profile %q %w: it uses key %s now", name, profile.ErrChanged, a.Credentials.KeyID)
	}
	if err != nil {
		return fmt.Errorf("%w; the rotation from key %s to key %s deleted nothing", err, oldKeyID, newKeyID)
	}
	r.acct, r.rep.Store = a, a.SecretIn
	r.rep.OldKeyID, r.rep.NewKeyID, r.rep.NewKeyCreated = oldKeyID, newKeyID, a.KeyCreated
	old := a
	old.Credentials.KeyID, old.Rotation = oldKeyID, nil
	if err := r.cfg.Forget(ctx, old); err != nil {
		// Tokens cached for the old key's account: no profile names it
		// now, so none is served, and each expires within the hour.
		r.rep.Warnings = append(r.rep.Warnings, fmt.Errorf("tokens cached for the old key were not all removed: %w", err))
	}
	if r.cfg.KeepOld {
		r.rep.Kept = true
	} else {
		sctx, cancel := r.step(ctx)
		err := r.api.DeleteKeyGone(sctx, r.cfg.ID, oldKeyID)
		cancel()
		if err != nil {
			if isNoRight(err) {
				err = r.errNoRight(err)
			}
			return fmt.Errorf("profile %q now uses key %s; its old key %s could not be deleted: %w; run rotate again to delete it",
				name, newKeyID, oldKeyID, err)
		}
		r.rep.OldDeleted = true
	}
	if err := r.cfg.Profiles.EndRotation(ctx, name, newKeyID); err != nil {
		return fmt.Errorf("profile %q now uses key %s: %w", name, newKeyID, err)
	}
	return nil
}

// resume finishes what an interrupted rotation of the profile left: done
// says this run's work is then done (a rotation finished).
func (r *run) resume(ctx context.Context) (done bool, err error) {
	rot := r.acct.Rotation
	if owner, ok := rot.Owner(); ok && owner != r.cfg.ID {
		return true, fmt.Errorf("profile %q: its unfinished rotation began in service account %s, not %s; nothing was changed: "+
			"run rotate again with --project %s --service-account %s (or neither, when the profile's email names that account)",
			r.cfg.Name, owner, r.cfg.ID, owner.Project, owner.ServiceAccount)
	}
	switch {
	case rot == nil:
		return false, nil
	case rot.Switched():
		r.rep.Resumed = "switched"
		return true, r.finish(ctx, r.acct.Credentials.KeyID, rot.OldKeyID)
	case rot.Staged():
		secret, err := r.cfg.Profiles.KeySecret(r.cfg.Name, rot.NewKeyID)
		if err == nil {
			r.rep.Resumed = "staged"
			return true, r.proveAndSwitch(ctx, serviceaccount.Key{ID: rot.NewKeyID, CreateTime: rot.NewKeyCreated}, secret)
		}
		if !errors.Is(err, keyring.ErrNotFound) {
			return false, err
		}
		// Its secret is gone (removed by hand, perhaps copied first).
		r.rep.Unstored = append(r.rep.Unstored, serviceaccount.Key{ID: rot.NewKeyID, CreateTime: rot.NewKeyCreated})
		return false, r.cfg.Profiles.EndRotation(ctx, r.cfg.Name, r.acct.Credentials.KeyID)
	}
	return r.begun(ctx, rot)
}

// begun deals with a rotation interrupted before a key was staged: a key
// of the account that was not there when it began, nor the profile's, and
// whose secret is in its entry, was created by it and is adopted (the
// first one); one whose secret is not, created within the window of its
// create, may have been created by it and is reported; any other is
// another's (a machine's that made its own key) and left alone. The record
// then goes, and a fresh rotation may begin.
func (r *run) begun(ctx context.Context, rot *profile.Rotation) (done bool, err error) {
	keys, err := r.listKeys(ctx)
	if err != nil {
		return false, err
	}
	keyID := r.acct.Credentials.KeyID
	var adopted *serviceaccount.Key
	for _, k := range keys {
		if k.ID == keyID || slices.Contains(rot.KeysBefore, k.ID) {
			continue
		}
		if adopted == nil {
			found, err := r.cfg.Profiles.AdoptKey(ctx, r.cfg.Name, keyID, k.ID, k.CreateTime)
			if err != nil {
				return false, err
			}
			if found {
				adopted = &k
				continue
			}
		}
		if rot.CreateWindow.Holds(k) {
			r.rep.Unstored = append(r.rep.Unstored, k)
		}
	}
	if adopted == nil {
		return false, r.cfg.Profiles.EndRotation(ctx, r.cfg.Name, keyID)
	}
	secret, err := r.cfg.Profiles.KeySecret(r.cfg.Name, adopted.ID)
	if err != nil {
		return false, err
	}
	r.rep.Resumed = "staged"
	return true, r.proveAndSwitch(ctx, *adopted, secret)
}
