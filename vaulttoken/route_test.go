package vaulttoken

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

// clearVaultEnv clears every variable that steers a Vault client, and the
// proxy variables, so that a test sees only what it sets.
func clearVaultEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "VAULT_") || strings.HasSuffix(strings.ToUpper(name), "_PROXY") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	t.Setenv("HOME", t.TempDir())
	t.Setenv("VAULT_MAX_RETRIES", "0")
}

// tokenVault is a Vault on loopback that answers every read with a token
// and counts the requests it gets.
func tokenVault(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var reqs atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Counted: the reads that send the credential for a token; the
		// lookup-self that follows each read (the token's own expiry) is not.
		if !isLookupSelf(r) {
			reqs.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"auth":{"client_token":"s.login","lease_duration":600},"data":{"access_token":"tok-from-vault","token_type":"Bearer","expires_at":%q}}`,
			time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	}))
	t.Cleanup(srv.Close)
	return srv, &reqs
}

// isLookupSelf reports whether r is the lookup of the Vault token's own
// expiry that follows each token read.
func isLookupSelf(r *http.Request) bool {
	return strings.HasSuffix(r.URL.Path, "/auth/token/lookup-self")
}

// readOnce reads dt/token/prod with a Source made from the environment,
// giving up after a few seconds.
func readOnce(t *testing.T, cfg Config) error {
	t.Helper()
	cfg.Path = "dt/token/prod"
	src, err := NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = src.TokenContext(ctx)
	return err
}

// TestCredentialOnlyWhereAllowed: the plain-http rule holds for the
// address and the proxy the client really uses, not only for VAULT_ADDR:
// an agent address or a proxy that is plain http off this machine gets
// neither the Vault token nor the JWT, and the error names the variable.
func TestCredentialOnlyWhereAllowed(t *testing.T) {
	ext := testutil.OutsideIP(t)
	jwtFile := filepath.Join(t.TempDir(), "jwt")
	if err := os.WriteFile(jwtFile, []byte("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  func(vault, trap string) map[string]string
		jwt  bool
		want string
	}{
		{"agent address", func(_, trap string) map[string]string {
			return map[string]string{"VAULT_ADDR": "https://vault.invalid:8200", "VAULT_AGENT_ADDR": "http://" + trap}
		}, false, "VAULT_AGENT_ADDR"},
		{"agent address, JWT login", func(_, trap string) map[string]string {
			return map[string]string{"VAULT_ADDR": "https://vault.invalid:8200", "VAULT_AGENT_ADDR": "http://" + trap}
		}, true, "VAULT_AGENT_ADDR"},
		{"VAULT_PROXY_ADDR", func(vault, trap string) map[string]string {
			return map[string]string{"VAULT_ADDR": vault, "VAULT_PROXY_ADDR": "http://" + trap}
		}, false, "VAULT_PROXY_ADDR"},
		{"VAULT_HTTP_PROXY", func(vault, trap string) map[string]string {
			return map[string]string{"VAULT_ADDR": vault, "VAULT_HTTP_PROXY": "http://" + trap}
		}, false, "VAULT_HTTP_PROXY"},
		{"VAULT_PROXY_ADDR over https", func(vault, trap string) map[string]string {
			return map[string]string{"VAULT_ADDR": vault, "VAULT_PROXY_ADDR": "https://" + trap}
		}, false, "VAULT_PROXY_ADDR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearVaultEnv(t)
			vault, reqs := tokenVault(t)
			trap, received := testutil.Recorder(t, ext)
			for k, v := range tc.env(vault.URL, trap) {
				t.Setenv(k, v)
			}
			cfg := Config{}
			if tc.jwt {
				cfg.JWTFile, cfg.Role = jwtFile, "fleet"
			} else {
				t.Setenv("VAULT_TOKEN", "s.must-not-travel")
			}
			err := readOnce(t, cfg)
			var e *Error
			if !errors.As(err, &e) || e.Kind != Misconfigured || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want a configuration error naming %s", err, tc.want)
			}
			if n := received(); n != 0 {
				t.Errorf("%s received %d bytes", trap, n)
			}
			if n := reqs.Load(); n != 0 {
				t.Errorf("the Vault got %d requests", n)
			}
		})
	}
}

// TestLoopbackProxyAllowed: a proxy on this machine in front of a plain-http
// loopback Vault is used, as it was before.
func TestLoopbackProxyAllowed(t *testing.T) {
	clearVaultEnv(t)
	vault, reqs := tokenVault(t)
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLookupSelf(r) {
			proxied.Add(1)
		}
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer proxy.Close()
	t.Setenv("VAULT_ADDR", vault.URL)
	t.Setenv("VAULT_PROXY_ADDR", proxy.URL)
	t.Setenv("VAULT_TOKEN", "s.vault-token")
	if err := readOnce(t, Config{}); err != nil {
		t.Fatal(err)
	}
	if proxied.Load() != 1 || reqs.Load() != 1 {
		t.Errorf("%d requests through the proxy, %d at the Vault; want 1 and 1", proxied.Load(), reqs.Load())
	}
}

// endlessVault answers every request with status and a body that never
// ends (up to limit bytes, so that a client without a bound fails the test
// rather than the machine), and reports how much it wrote.
func endlessVault(t *testing.T, status int, limit int64) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var wrote atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		chunk := []byte(strings.Repeat("A", 64<<10))
		n, _ := w.Write([]byte(`{"errors":["`))
		wrote.Add(int64(n))
		for wrote.Load() < limit {
			n, err := w.Write(chunk)
			wrote.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &wrote
}

// TestResponseBodyBounded: a Vault answering with an endless body gets at
// most a bounded read, and the error says so (and is not transient: the
// same Vault will answer the same).
func TestResponseBodyBounded(t *testing.T) {
	for _, status := range []int{http.StatusOK, http.StatusBadRequest, http.StatusInternalServerError} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			clearVaultEnv(t)
			srv, wrote := endlessVault(t, status, 64<<20)
			t.Setenv("VAULT_ADDR", srv.URL)
			t.Setenv("VAULT_TOKEN", "s.vault-token")
			err := readOnce(t, Config{})
			var e *Error
			if !errors.As(err, &e) || e.Kind != BadResponse || !strings.Contains(err.Error(), "larger than 1 MiB") {
				t.Fatalf("error %v, want a bad response larger than 1 MiB", err)
			}
			if e.Temporary() {
				t.Error("an oversized response is called temporary")
			}
			if strings.Contains(err.Error(), "AAAA") {
				t.Error("the error quotes the body")
			}
			// What the kernel buffers on loopback comes on top of the bound.
			if n := wrote.Load(); n >= 32<<20 {
				t.Errorf("the server wrote %d bytes before the client gave up", n)
			}
		})
	}
}
