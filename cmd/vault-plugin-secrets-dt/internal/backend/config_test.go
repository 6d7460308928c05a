package backend

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
)

// loopbackService stands for a service that listens only on the Vault
// host's loopback (an admin API, a metadata proxy): it counts the requests
// it gets and answers each with a body no Vault reader may see.
type loopbackService struct {
	URL      string
	requests atomic.Int32
}

const loopbackBody = `{"error":"invalid_request","error_description":"internal-admin-page-marker"}`

func newLoopbackService(t *testing.T) *loopbackService {
	t.Helper()
	s := &loopbackService{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(loopbackBody))
	}))
	t.Cleanup(ts.Close)
	s.URL = ts.URL
	return s
}

func accountAt(endpoint string) map[string]any {
	return map[string]any{"key_id": keyID, "email": email, "secret": secret, "token_endpoint": endpoint}
}

func TestConfigDefaults(t *testing.T) {
	h := newDefaultHarness(t)
	resp, err := h.request(t, logical.ReadOperation, "config", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"allowed_token_endpoint_hosts": []string{"identity.disruptive-technologies.com"},
		"allowed_api_hosts":            []string{"api.disruptive-technologies.com"},
		"allow_loopback_http":          false,
	}
	if diff := cmp.Diff(want, resp.Data); diff != "" {
		t.Errorf("read config (-want +got):\n%s", diff)
	}
}

// TestDefaultConfigRefusesLoopbackAndOtherHosts: a Vault user allowed to
// write accounts cannot make the engine POST to a service on the Vault
// host's loopback, or to any host the operator did not allow.
func TestDefaultConfigRefusesLoopbackAndOtherHosts(t *testing.T) {
	h := newDefaultHarness(t)
	svc := newLoopbackService(t)
	port := strings.TrimPrefix(svc.URL, "http://127.0.0.1:")
	for _, endpoint := range []string{
		svc.URL + "/oauth2/token",
		"http://localhost:" + port + "/oauth2/token",
		"http://[::1]:" + port + "/oauth2/token",
		"https://127.0.0.1:" + port + "/oauth2/token",
		"https://attacker.example/oauth2/token",
		"https://identity.disruptive-technologies.com:8443/oauth2/token",
	} {
		t.Run(endpoint, func(t *testing.T) {
			_, err := h.request(t, logical.UpdateOperation, "accounts/team-x", accountAt(endpoint))
			if err == nil || !strings.Contains(err.Error(), "dt/config") || codeOf(err) != http.StatusBadRequest {
				t.Fatalf("account with token_endpoint %s: error %v (code %d), want a 400 naming dt/config", endpoint, err, codeOf(err))
			}
			if a, _ := h.b.getAccount(context.Background(), h.storage, "team-x"); a != nil {
				t.Fatal("the refused account was stored")
			}
			_, _ = h.request(t, logical.ReadOperation, "token/team-x", nil)
		})
	}
	if n := svc.requests.Load(); n != 0 {
		t.Fatalf("the loopback service got %d requests", n)
	}
	// DT's own endpoint is allowed as it comes.
	h.writeAccount(t, "prod", map[string]any{"key_id": keyID, "email": email, "secret": secret})
}

// TestConfigCheckedAtTokenRead: an account written while dt/config allowed
// its endpoint, or written before dt/config existed, is not used once the
// operator no longer allows it.
func TestConfigCheckedAtTokenRead(t *testing.T) {
	h := newHarness(t)
	h.writeAccount(t, "prod", h.account())
	h.readToken(t, "prod")

	h.configure(t, map[string]any{"allow_loopback_http": false})
	_, err := h.request(t, logical.ReadOperation, "token/prod", nil)
	if err == nil || !strings.Contains(err.Error(), "dt/config") || codeOf(err) != http.StatusBadRequest {
		t.Fatalf("token of an account dt/config no longer allows: %v (code %d), want a 400 naming dt/config", err, codeOf(err))
	}

	// An entry that never went through the write checks.
	svc := newLoopbackService(t)
	e, err := logical.StorageEntryJSON(storageKey("old"), account{KeyID: keyID, Email: email, Secret: secret, TokenEndpoint: svc.URL + "/t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.storage.Put(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if _, err := h.request(t, logical.ReadOperation, "token/old", nil); err == nil || !strings.Contains(err.Error(), "dt/config") {
		t.Fatalf("token of a stored account at a loopback service: %v, want a refusal naming dt/config", err)
	}
	if n := svc.requests.Load(); n != 0 {
		t.Fatalf("the loopback service got %d requests", n)
	}
	if n := h.srv.Requests(); n != 1 {
		t.Fatalf("the emulator got %d requests, want the first read's only", n)
	}
}

func TestConfigAllowedHosts(t *testing.T) {
	srv := authtest.NewTLSServer(authtest.Account{KeyID: keyID, Email: email, Secret: secret})
	t.Cleanup(srv.Close)
	h := newHarnessOn(t, srv)
	hostPort := strings.TrimPrefix(srv.URL, "https://")
	endpoint := srv.URL + authtest.TokenPath

	// A host without a port allows only https's own port.
	h.configure(t, map[string]any{"allowed_token_endpoint_hosts": "127.0.0.1"})
	if _, err := h.request(t, logical.UpdateOperation, "accounts/tls", accountAt(endpoint)); err == nil || !strings.Contains(err.Error(), "dt/config") {
		t.Fatalf("https on port %s with only 127.0.0.1 allowed: %v", hostPort, err)
	}
	h.configure(t, map[string]any{"allowed_token_endpoint_hosts": []string{"IDENTITY.disruptive-technologies.com", hostPort}})
	resp, err := h.request(t, logical.ReadOperation, "config", nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"identity.disruptive-technologies.com", hostPort}, resp.Data["allowed_token_endpoint_hosts"]); diff != "" {
		t.Errorf("allowed hosts as stored (-want +got):\n%s", diff)
	}
	h.writeAccount(t, "tls", accountAt(endpoint))
	if tok := h.readToken(t, "tls")["access_token"].(string); !srv.Valid(tok) {
		t.Fatal("the token read from an allowed host is not valid there")
	}
	// Updating one field keeps the other.
	h.configure(t, map[string]any{"allow_loopback_http": true})
	resp, _ = h.request(t, logical.ReadOperation, "config", nil)
	if diff := cmp.Diff([]string{"identity.disruptive-technologies.com", hostPort}, resp.Data["allowed_token_endpoint_hosts"]); diff != "" {
		t.Errorf("allowed hosts after an update of allow_loopback_http (-want +got):\n%s", diff)
	}

	for _, bad := range []string{"https://identity.example.com", "identity.example.com/oauth2", "identity.example.com:port", "[::1", "user@host", "a b"} {
		t.Run(bad, func(t *testing.T) {
			_, err := h.request(t, logical.UpdateOperation, "config", map[string]any{"allowed_token_endpoint_hosts": []string{bad}})
			if err == nil || codeOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "host or host:port") {
				t.Fatalf("allowed host %q: %v (code %d), want a 400", bad, err, codeOf(err))
			}
		})
	}
}

// TestConfigChangedOnAnotherNode: a standby learns of dt/config written
// through the active node by Vault's invalidation of the key.
func TestConfigChangedOnAnotherNode(t *testing.T) {
	h := newDefaultHarness(t)
	if _, err := h.request(t, logical.UpdateOperation, "accounts/prod", h.account()); err == nil {
		t.Fatal("a loopback endpoint was accepted by default")
	}
	e, err := logical.StorageEntryJSON("config", map[string]any{"allowed_token_endpoint_hosts": []string{"identity.disruptive-technologies.com"}, "allow_loopback_http": true})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.storage.Put(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	h.b.invalidate(context.Background(), "config")
	h.writeAccount(t, "prod", h.account())
	h.readToken(t, "prod")
}

// TestConfigAPIHosts: allowed_api_hosts is parsed as the endpoint hosts
// are, and a configuration stored before it existed has its default.
func TestConfigAPIHosts(t *testing.T) {
	h := newDefaultHarness(t)
	e, err := logical.StorageEntryJSON("config", map[string]any{"allowed_token_endpoint_hosts": []string{"id.example.com"}, "allow_loopback_http": false})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.storage.Put(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	resp, err := h.request(t, logical.ReadOperation, "config", nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"api.disruptive-technologies.com"}, resp.Data["allowed_api_hosts"]); diff != "" {
		t.Errorf("allowed_api_hosts of a configuration stored without it (-want +got):\n%s", diff)
	}
	if _, err := h.request(t, logical.UpdateOperation, "config", map[string]any{"allowed_api_hosts": "https://api.example.com"}); err == nil ||
		codeOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "allowed_api_hosts:") {
		t.Fatalf("an API host with a scheme: %v", err)
	}
	h.configure(t, map[string]any{"allowed_api_hosts": "API.example.com:8443"})
	resp, _ = h.request(t, logical.ReadOperation, "config", nil)
	if diff := cmp.Diff([]string{"api.example.com:8443"}, resp.Data["allowed_api_hosts"]); diff != "" {
		t.Errorf("allowed_api_hosts as stored (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"id.example.com"}, resp.Data["allowed_token_endpoint_hosts"]); diff != "" {
		t.Errorf("the endpoint hosts after an update of the API hosts (-want +got):\n%s", diff)
	}
}

// TestAllowedHostsCompareAsTheHelperDoes: an allowed host is compared as
// the git and docker helpers' host lists compare hosts (ASCII only, case
// folded byte by byte): a look-alike host (U+212A KELVIN SIGN, which
// strings.ToLower folds into "k") is not an allowed one, and a port
// written as https's own is the host itself.
func TestAllowedHostsCompareAsTheHelperDoes(t *testing.T) {
	allowed, err := parseAllowedHost(fieldEndpointHosts, "Kelvin.example")
	if err != nil {
		t.Fatal(err)
	}
	c := &engineConfig{AllowedHosts: []string{allowed}}
	for endpoint, want := range map[string]bool{
		"https://kelvin.example/oauth2/token":      true,
		"https://KELVIN.example:443/oauth2/token":  true,
		"https://\u212Aelvin.example/oauth2/token": false,
		"https://kelvin.example:8443/oauth2/token": false,
		"https://kelvin.example.evil/oauth2/token": false,
	} {
		if err := c.allows(endpoint); (err == nil) != want {
			t.Errorf("allows(%q) = %v, want allowed %v", endpoint, err, want)
		}
	}
}
