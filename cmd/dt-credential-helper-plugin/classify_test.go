package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/internal/vaultproc"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/plugin"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken"
)

// TestClassify: the provider's errors reach hosts as the codes DESIGN.md
// fixes (the plugin package's TestErrorMapping takes it from the sentinels
// to the codes).
func TestClassify(t *testing.T) {
	unknown := fmt.Errorf("%w %q: create it with `dt-credential-helper login --profile x`", profile.ErrUnknown, "x")
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"rejected", &auth.Error{Kind: auth.Rejected, Endpoint: "https://id.example/token", KeyID: "k1"}, plugin.ErrRejected},
		{"transient", &auth.Error{Kind: auth.Transient, Endpoint: "https://id.example/token", KeyID: "k1", Err: errors.New("connection refused")}, plugin.ErrUnavailable},
		{"unknown profile", misconfig.Wrap(unknown), plugin.ErrUnknownProfile},
		{"missing config", &auth.ConfigError{Msg: "missing key id: set DT_SERVICE_ACCOUNT_KEY_ID"}, plugin.ErrConfig},
		{"profiles file not trusted", misconfig.Errorf("profiles file not trusted: %w", errors.New("mode 0666")), plugin.ErrConfig},
		// Read in this process, unconverted: the behaviour says it.
		{"no Vault token", &vaulttoken.Error{Kind: vaulttoken.Misconfigured, Msg: "vault: no Vault token"}, plugin.ErrConfig},
		{"Vault denies the path", &vaulttoken.Error{Kind: vaulttoken.Denied, Msg: "vault: permission denied"}, nil},
		{"keyring unavailable", fmt.Errorf("token cache: %w", keyring.ErrUnreachable), plugin.ErrUnavailable},
		{"bad response", &auth.Error{Kind: auth.BadResponse, Endpoint: "https://id.example/token", KeyID: "k1"}, nil},
		{"canceled: the plugin package maps it", fmt.Errorf("keyring: %w", context.Canceled), nil},
		{"temporary (a Vault outage)", temporaryError{}, plugin.ErrUnavailable},
		{"deadline, which says Temporary too", fmt.Errorf("refresh: %w", context.DeadlineExceeded), nil},
		{"other", errors.New("something broke"), nil},
	}
	for _, tt := range tests {
		if got := classify(tt.err); got != tt.want {
			t.Errorf("%s: classify = %v, want %v", tt.name, got, tt.want)
		}
		// As the plugin serves it, its message made printable.
		if got := classify(printable(tt.err)); got != tt.want {
			t.Errorf("%s, made printable: classify = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// temporaryError is a failure that says it may go away, as a vaulttoken
// error for a sealed Vault does.
type temporaryError struct{}

func (temporaryError) Error() string {
	return "vault: reading dt/token/prod: HTTP 503: Vault is sealed"
}
func (temporaryError) Temporary() bool { return true }

// TestReplyKind: the vault-token child's reply carries what the helper
// sorts by (exit 2 on misconfigured, a cached token served on transient).
func TestReplyKind(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want vaultproc.Kind
	}{
		{"no Vault token", &vaulttoken.Error{Kind: vaulttoken.Misconfigured}, vaultproc.Misconfigured},
		{"wrapped", fmt.Errorf("reading: %w", &vaulttoken.Error{Kind: vaulttoken.Misconfigured}), vaultproc.Misconfigured},
		{"the program's own", misconfig.Errorf("no path"), vaultproc.Misconfigured},
		{"denied", &vaulttoken.Error{Kind: vaulttoken.Denied}, vaultproc.Permission},
		{"sealed", &vaulttoken.Error{Kind: vaulttoken.Transient}, vaultproc.Transient},
		{"nothing at the path", &vaulttoken.Error{Kind: vaulttoken.NotFound}, vaultproc.Other},
		{"rejected", &vaulttoken.Error{Kind: vaulttoken.Rejected}, vaultproc.Other},
		{"not a bearer token", errors.New("vault: dt/token/prod: the access token Vault returned is refused"), vaultproc.Other},
	}
	for _, tt := range tests {
		if got := replyKind(tt.err); got != tt.want {
			t.Errorf("%s: replyKind = %v, want %v", tt.name, got, tt.want)
		}
	}
}
