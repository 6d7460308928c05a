package vaulttoken

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

// TestLoopbackSquatterGetsNothing: with the user's agent down, another
// user listening on its loopback port receives neither the Vault token nor
// the JWT: the connection is closed before a byte is written, and the
// error names the port and the listener's uid.
func TestLoopbackSquatterGetsNothing(t *testing.T) {
	jwtFile := filepath.Join(t.TempDir(), "jwt")
	if err := os.WriteFile(jwtFile, []byte("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, listen, dial string
		jwt                bool
	}{
		{"IPv4", "127.0.0.1", "127.0.0.1", false},
		{"IPv4, JWT login", "127.0.0.1", "127.0.0.1", true},
		{"IPv6", "::1", "[::1]", false},
		{"dual-stack listener", "::", "127.0.0.1", false},
		{"localhost", "127.0.0.1", "localhost", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearVaultEnv(t)
			sq := testutil.StartSquatter(t, "tcp", tc.listen)
			port := sq.Port
			t.Setenv("VAULT_ADDR", "http://"+net.JoinHostPort(strings.Trim(tc.dial, "[]"), port))
			cfg := Config{}
			if tc.jwt {
				cfg.JWTFile, cfg.Role = jwtFile, "fleet"
			} else {
				t.Setenv("VAULT_TOKEN", "s.must-not-reach-the-squatter")
			}
			err := readOnce(t, cfg)
			if got := sq.Stop(); len(got) != 0 {
				t.Errorf("the listener of uid %d received %v", testutil.Nobody, got)
			}
			want := fmt.Sprintf("port %s", port)
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "uid "+strconv.Itoa(testutil.Nobody)) {
				t.Fatalf("error %v, want one naming %s and uid %d", err, want, testutil.Nobody)
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != Misconfigured {
				t.Errorf("error kind %v, want Misconfigured", e)
			}
		})
	}
}

// TestVaultTokenFileRules: ~/.vault-token holds a Vault token, so it is
// trusted only as a private file of ours: one another user planted, one
// others can read, a symlink and a FIFO are refused, and nothing is sent.
func TestVaultTokenFileRules(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a file to another user needs root")
	}
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, path string)
		want  []string
	}{
		{"owned by nobody", func(t *testing.T, path string) {
			writeFile(t, path, 0o600)
			if err := os.Chown(path, testutil.Nobody, testutil.Nobody); err != nil {
				t.Fatal(err)
			}
		}, []string{"owned by another user"}},
		{"readable by others", func(t *testing.T, path string) {
			writeFile(t, path, 0o644)
		}, []string{"group or others", "chmod 600 " + "PATH"}},
		{"a symlink", func(t *testing.T, path string) {
			target := filepath.Join(t.TempDir(), "elsewhere")
			writeFile(t, target, 0o600)
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}, []string{"symbolic link"}},
		{"a FIFO", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		}, []string{"not a regular file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearVaultEnv(t)
			vault, reqs := tokenVault(t)
			t.Setenv("VAULT_ADDR", vault.URL)
			path := filepath.Join(os.Getenv("HOME"), ".vault-token")
			tc.plant(t, path)
			err := readOnce(t, Config{})
			var e *Error
			if !errors.As(err, &e) || e.Kind != Misconfigured || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want a configuration error naming %s", err, path)
			}
			for _, w := range tc.want {
				if w = strings.ReplaceAll(w, "PATH", path); !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s.planted") {
				t.Error("the error quotes the file")
			}
			if n := reqs.Load(); n != 0 {
				t.Errorf("the Vault got %d requests with a token from an untrusted file", n)
			}
		})
	}
	t.Run("private file of ours", func(t *testing.T) {
		clearVaultEnv(t)
		vault, reqs := tokenVault(t)
		t.Setenv("VAULT_ADDR", vault.URL)
		writeFile(t, filepath.Join(os.Getenv("HOME"), ".vault-token"), 0o600)
		if err := readOnce(t, Config{}); err != nil || reqs.Load() != 1 {
			t.Fatalf("error %v, %d requests; want a token from one request", err, reqs.Load())
		}
	})
}

func writeFile(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte("s.planted-vault-token\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}
