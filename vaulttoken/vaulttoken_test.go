package vaulttoken

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// A Source is an upstream that keyring.NewCache caches.
var _ auth.ContextSource = (*Source)(nil)

// The end-to-end tests against a real OpenBao server are in
// cmd/vault-plugin-secrets-dt; these cover what needs no server.

// client returns a Vault client for addr that reads no environment.
func client(t *testing.T, addr string) *api.Client {
	t.Helper()
	conf := api.DefaultConfig()
	conf.Address = addr
	conf.MaxRetries = 0
	c, err := api.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken("s.not-a-real-token")
	return c
}

func TestNewSourceConfigErrors(t *testing.T) {
	c := client(t, "http://127.0.0.1:1")
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no path", Config{Client: c}, "no token path"},
		{"v1 prefix", Config{Client: c, Path: "/v1/dt/token/prod"}, "must not start with v1/"},
		{"JWT without role", Config{Client: c, Path: "dt/token/prod", JWTFile: "/tmp/jwt"}, "both a JWT file and a role"},
		{"role without JWT", Config{Client: c, Path: "dt/token/prod", Role: "fleet"}, "both a JWT file and a role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSource(tc.cfg)
			var e *Error
			if !errors.As(err, &e) || e.Kind != Misconfigured || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a configuration error containing %q", err, tc.want)
			}
			// What a caller that does not know the type reads.
			var m interface{ Misconfigured() bool }
			if !errors.As(err, &m) || !m.Misconfigured() {
				t.Error("the error does not say Misconfigured() through errors.As")
			}
		})
	}
}

func TestUnreachableVaultIsTransient(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	src, err := NewSource(Config{Client: client(t, addr), Path: "dt/token/prod"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.TokenContext(context.Background())
	var e *Error
	if !errors.As(err, &e) || !e.Temporary() || e.Status != 0 {
		t.Fatalf("error %v, want a transient error with no status", err)
	}
	if !strings.Contains(err.Error(), "dt/token/prod") || !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not name the path and the address", err)
	}
	// The keyring cache serves a token it holds on errors of this shape.
	var temp interface{ Temporary() bool }
	if !errors.As(err, &temp) || !temp.Temporary() {
		t.Error("the error does not say Temporary() through errors.As")
	}
	if e.Misconfigured() {
		t.Error("an unreachable Vault is taken for a configuration error")
	}
}

func TestJWTFileErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("eyJhbGciOi", vaultenv.MaxCredentialFile/10+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, file, want string }{
		{"missing", filepath.Join(dir, "nosuch"), "no such file"},
		{"empty", empty, "is empty"},
		{"a directory", dir, "not a regular file"},
		{"too large", big, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := NewSource(Config{Client: client(t, "http://127.0.0.1:1"), Path: "dt/token/prod", JWTFile: tc.file, Role: "fleet"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = src.TokenContext(context.Background())
			var e *Error
			if !errors.As(err, &e) || e.Kind != Misconfigured || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a configuration error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "eyJhbGciOi") {
				t.Error("the error quotes the JWT file")
			}
		})
	}
}

// NewSource reads no environment: a process whose cache serves the call
// never sets up a Vault client.
func TestNewSourceReadsNoEnvironment(t *testing.T) {
	t.Setenv("VAULT_ADDR", "not a url \x7f")
	t.Setenv("VAULT_TOKEN", "")
	t.Setenv("HOME", t.TempDir()) // no ~/.vault-token
	src, err := NewSource(Config{Path: "dt/token/prod"})
	if err != nil {
		t.Fatalf("NewSource read the environment: %v", err)
	}
	_, err = src.TokenContext(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.Kind != Misconfigured {
		t.Fatalf("error %v, want a configuration error at the first call", err)
	}
}

func TestCancelledWhileWaiting(t *testing.T) {
	src, err := NewSource(Config{Client: client(t, "http://127.0.0.1:1"), Path: "dt/token/prod"})
	if err != nil {
		t.Fatal(err)
	}
	src.sem <- struct{}{} // another read in progress
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = src.TokenContext(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}
