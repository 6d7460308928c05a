package vaultenv

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestAddress(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, DefaultAddress},
		{map[string]string{"VAULT_ADDR": "https://vault.example:8200"}, "https://vault.example:8200"},
		{map[string]string{"VAULT_ADDR": "https://vault.example:8200", "VAULT_AGENT_ADDR": "unix:///run/agent.sock"}, "unix:///run/agent.sock"},
		{map[string]string{"VAULT_AGENT_ADDR": "http://127.0.0.1:8100"}, "http://127.0.0.1:8100"},
	} {
		if got := Address(mapEnv(tc.env)); got != tc.want {
			t.Errorf("%v: Address = %s, want %s", tc.env, got, tc.want)
		}
	}
}

// TestCheck: the address and the proxy the client will use, each under
// the rule, and a refusal names the variable at fault.
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // "" for allowed
	}{
		{"default", nil, ""},
		{"https", map[string]string{"VAULT_ADDR": "https://vault.example:8200"}, ""},
		{"plain http to loopback", map[string]string{"VAULT_ADDR": "http://127.0.0.1:8200"}, ""},
		{"plain http to [::1]", map[string]string{"VAULT_ADDR": "http://[::1]:8200"}, ""},
		{"plain http to localhost", map[string]string{"VAULT_ADDR": "http://localhost:8200"}, ""},
		{"plain http off the machine", map[string]string{"VAULT_ADDR": "http://vault.example:8200"}, "VAULT_ADDR http://vault.example:8200 is not https"},
		{"agent address over VAULT_ADDR", map[string]string{"VAULT_ADDR": "https://vault.example:8200", "VAULT_AGENT_ADDR": "http://10.1.2.3:8100"}, "VAULT_AGENT_ADDR http://10.1.2.3:8100 is not https"},
		{"agent on loopback", map[string]string{"VAULT_ADDR": "http://vault.example:8200", "VAULT_AGENT_ADDR": "http://127.0.0.1:8100"}, ""},
		{"agent on a unix socket", map[string]string{"VAULT_AGENT_ADDR": "unix:///run/vault/agent.sock"}, ""},
		{"agent on a relative socket", map[string]string{"VAULT_AGENT_ADDR": "unix://agent.sock"}, "absolute socket path"},
		{"password in the address", map[string]string{"VAULT_ADDR": "https://u:hunter2@vault.example:8200"}, "VAULT_ADDR must not hold a user name or password"},
		{"not a URL", map[string]string{"VAULT_ADDR": "vault.example"}, "VAULT_ADDR is not a URL"},
		{"any proxy for https", map[string]string{"VAULT_ADDR": "https://vault.example:8200", "VAULT_PROXY_ADDR": "http://proxy.example:3128"}, ""},
		{"outside proxy for plain http", map[string]string{"VAULT_ADDR": "http://127.0.0.1:8200", "VAULT_PROXY_ADDR": "http://proxy.example:3128"}, "VAULT_PROXY_ADDR http://proxy.example:3128 is a proxy off this machine"},
		{"outside https proxy for plain http", map[string]string{"VAULT_ADDR": "http://127.0.0.1:8200", "VAULT_HTTP_PROXY": "https://proxy.example:3128"}, "VAULT_HTTP_PROXY https://proxy.example:3128 is a proxy off this machine"},
		{"VAULT_PROXY_ADDR over VAULT_HTTP_PROXY", map[string]string{"VAULT_ADDR": "http://127.0.0.1:8200", "VAULT_PROXY_ADDR": "http://127.0.0.1:3128", "VAULT_HTTP_PROXY": "http://proxy.example:3128"}, ""},
		{"loopback proxy for plain http", map[string]string{"VAULT_ADDR": "http://127.0.0.1:8200", "VAULT_HTTP_PROXY": "socks5://127.0.0.1:1080"}, ""},
		{"proxy password not shown", map[string]string{"VAULT_ADDR": "http://127.0.0.1:8200", "VAULT_PROXY_ADDR": "http://u:hunter2@proxy.example:3128"}, "http://u:xxxxx@proxy.example:3128"},
		{"proxies do not matter to a socket", map[string]string{"VAULT_AGENT_ADDR": "unix:///run/agent.sock", "VAULT_PROXY_ADDR": "http://proxy.example:3128"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(mapEnv(tc.env))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var re *RefusedError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a refusal saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows a password: %v", err)
			}
		})
	}
}

func TestCheckReference(t *testing.T) {
	for _, tc := range []struct {
		path, jwt, role string
		want            string // the path, or the error's words
		ok              bool
	}{
		{"dt/token/prod", "", "", "dt/token/prod", true},
		{" /dt/token/prod/ ", "", "", "dt/token/prod", true},
		{"dt/token/prod", "/jwt", "fleet", "dt/token/prod", true},
		{"", "", "", "no token path", false},
		{"  / ", "", "", "no token path", false},
		{"/v1/dt/token/prod", "", "", "must not start with v1/", false},
		{"dt/token/prod", "", "fleet", "both a JWT file and a role", false},
		{"dt/token/prod", "/jwt", "", "both a JWT file and a role", false},
	} {
		path, err := CheckReference(tc.path, tc.jwt, tc.role)
		switch {
		case tc.ok && (err != nil || path != tc.want):
			t.Errorf("%q: %q, %v; want %q", tc.path, path, err, tc.want)
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q (jwt %q, role %q): error %v, want one saying %q", tc.path, tc.jwt, tc.role, err, tc.want)
		}
	}
}

// TestBoundBodies: a body of the bound is read whole; one byte more fails,
// and so does an endless one, after at most the bound.
func TestBoundBodies(t *testing.T) {
	for _, tc := range []struct {
		name string
		body io.Reader
		err  error
	}{
		{"at the bound", bytes.NewReader(make([]byte, MaxResponseBody)), nil},
		{"one byte over", bytes.NewReader(make([]byte, MaxResponseBody+1)), ErrResponseTooLarge},
		{"endless", endless{}, ErrResponseTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := BoundBodies(roundTripper(func(*http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: 200, Body: io.NopCloser(tc.body)}, nil
			}))
			resp, err := rt.RoundTrip(httptest.NewRequest("GET", "http://127.0.0.1/", nil))
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			if !errors.Is(err, tc.err) || err == nil && tc.err != nil {
				t.Fatalf("read %d bytes, error %v; want %v", n, err, tc.err)
			}
			if n > MaxResponseBody {
				t.Errorf("read %d bytes, past the bound", n)
			}
			if _, err := resp.Body.Read(make([]byte, 10)); tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("a read after the bound: %v", err)
			}
		})
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type endless struct{}

func (endless) Read(p []byte) (int, error) { return len(p), nil }

// TestDialerPlainHTTPOnlyToLoopback: whatever name was asked for, a
// plain-http connection that reaches an address off this machine is closed
// before a byte is written.
func TestDialerPlainHTTPOnlyToLoopback(t *testing.T) {
	trap, received := testutil.Recorder(t, testutil.OutsideIP(t))
	u, _ := url.Parse("http://localhost:8200")
	var d net.Dialer
	// A name that resolved off the machine, as a hostile resolver or an
	// SRV record might have it.
	dial := Dialer(u, "", func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, trap)
	})
	conn, err := dial(context.Background(), "tcp", "localhost:8200")
	var re *RefusedError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "only to a loopback address") {
		t.Fatalf("dial: %v, %v; want a refusal", conn, err)
	}
	if n := received(); n != 0 {
		t.Errorf("%s received %d bytes", trap, n)
	}
	// An https address's connections are TLS's to vouch for.
	u, _ = url.Parse("https://vault.example:8200")
	conn, err = Dialer(u, "", d.DialContext)(context.Background(), "tcp", trap)
	if err != nil {
		t.Fatalf("an https address's connection refused: %v", err)
	}
	conn.Close()
}
