package main

import (
	"context"
	"errors"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/plugin"
)

// classify sorts the token sources' errors into the plugin's sentinels, which the
// plugin package turns into gRPC codes: it is the one place that knows both
// this program's error types and the protocol's codes.
func classify(err error) error {
	var temp interface{ Temporary() bool }
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The plugin package gives these codes of their own; they would
		// say Temporary below too.
		return nil
	// Before misconfig.Is: the profiles repository's ErrUnknown is a
	// configuration error too.
	case errors.Is(err, profile.ErrUnknown):
		return plugin.ErrUnknownProfile
	case auth.IsRejected(err):
		return plugin.ErrRejected
	case auth.IsTransient(err), errors.Is(err, keyring.ErrUnreachable):
		// An unreachable keyring (under --cache keyring) may come back, as
		// a network may.
		return plugin.ErrUnavailable
	case misconfig.Is(err):
		return plugin.ErrConfig
	case errors.As(err, &temp) && temp.Temporary():
		// By the net.Error convention: a sealed or unreachable Vault that a
		// profile reads its tokens from.
		return plugin.ErrUnavailable
	}
	return nil
}
