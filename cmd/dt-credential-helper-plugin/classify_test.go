package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/plugin"
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
		{"unknown profile", &auth.ConfigError{Msg: unknown.Error(), Err: unknown}, plugin.ErrUnknownProfile},
		{"missing config", &auth.ConfigError{Msg: "missing key id: set DT_SERVICE_ACCOUNT_KEY_ID"}, plugin.ErrConfig},
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
