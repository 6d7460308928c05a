package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/bearer"
	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/serviceaccount"
)

const (
	keyID  = "key-prod-1"
	email  = "fleet@example.serviceaccount.d21s.com"
	secret = "engine-test-secret-do-not-show"
)

// clock is a settable clock shared by the emulator and the engine.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type harness struct {
	b       *Backend
	storage logical.Storage
	srv     *authtest.Server
	clock   *clock
	logs    *syncBuffer
	// interrupt is the Options.interrupt of the engines the harness
	// makes from now on.
	interrupt func(step string) bool
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// newHarness is an engine whose dt/config allows the emulator's plain-http
// loopback endpoint, as an operator testing against it would set it.
func newHarness(t *testing.T) *harness {
	t.Helper()
	h := newDefaultHarness(t)
	h.configure(t, map[string]any{"allow_loopback_http": true})
	return h
}

// configure writes dt/config.
func (h *harness) configure(t *testing.T, data map[string]any) {
	t.Helper()
	if _, err := h.request(t, logical.UpdateOperation, "config", data); err != nil {
		t.Fatalf("write config: %v", err)
	}
}

// newDefaultHarness is an engine with dt/config as it comes: DT's identity
// host only, no plain-http loopback endpoint.
func newDefaultHarness(t *testing.T) *harness {
	t.Helper()
	srv := authtest.NewServer(authtest.Account{KeyID: keyID, Email: email, Secret: secret})
	t.Cleanup(srv.Close)
	return newHarnessOn(t, srv)
}

// newHarnessOn is an engine with dt/config as it comes whose token requests
// go through srv's client (the emulator's, trusting its certificate).
func newHarnessOn(t *testing.T, srv *authtest.Server) *harness {
	t.Helper()
	c := &clock{t: time.Now()}
	srv.SetClock(c.now)
	h := &harness{srv: srv, clock: c, storage: &logical.InmemStorage{}, logs: &syncBuffer{}}
	h.b = h.engine(t, h.storage, consts.ReplicationPerformancePrimary)
	return h
}

// engine sets up an engine instance on storage, as a cluster node whose
// replication state is state, sharing the harness's emulator, clock and log.
func (h *harness) engine(t *testing.T, storage logical.Storage, state consts.ReplicationState) *Backend {
	t.Helper()
	b := New(Options{
		SourceOptions: []auth.Option{
			auth.WithHTTPClient(h.srv.Client()),
			auth.WithClock(h.clock.now),
			auth.WithRetries(2, time.Millisecond, 5*time.Millisecond),
		},
		KeyAPIOptions: []serviceaccount.Option{serviceaccount.WithHTTPClient(h.srv.Client())},
		ProveFor:      500 * time.Millisecond,
		Now:           h.clock.now,
		interrupt:     h.interrupt,
	})
	conf := logical.TestBackendConfig()
	conf.Logger = hclog.New(&hclog.LoggerOptions{Output: h.logs, Level: hclog.Trace})
	conf.StorageView = storage
	conf.System.(*logical.StaticSystemView).ReplicationStateVal = state
	if err := b.Setup(context.Background(), conf); err != nil {
		t.Fatal(err)
	}
	return b
}

// node is another node of the harness's cluster: its own engine instance
// (empty memory) on storage, a standby or the active node.
func (h *harness) node(t *testing.T, storage logical.Storage, standby bool) *harness {
	t.Helper()
	state := consts.ReplicationPerformancePrimary
	if standby {
		state = consts.ReplicationPerformanceStandby
	}
	n := *h
	n.storage = storage
	n.b = h.engine(t, storage, state)
	return &n
}

// request runs one request through the framework as Vault would, returning
// the response and the error as the HTTP layer would see them.
func (h *harness) request(t *testing.T, op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	t.Helper()
	req := &logical.Request{Operation: op, Path: path, Data: data, Storage: h.storage}
	if op == logical.UpdateOperation || op == logical.CreateOperation {
		// Vault asks the existence check to choose between the two.
		// (a path without an existence check gets updates only).
		checked, exists, err := h.b.HandleExistenceCheck(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		req.Operation = logical.UpdateOperation
		if checked && !exists {
			req.Operation = logical.CreateOperation
		}
	}
	resp, err := h.b.HandleRequest(context.Background(), req)
	if err == nil && resp != nil && resp.IsError() {
		// Vault answers an error response without a code with a 400.
		err = logical.CodedError(http.StatusBadRequest, resp.Error().Error())
	}
	return resp, err
}

func (h *harness) writeAccount(t *testing.T, name string, data map[string]any) {
	t.Helper()
	if _, err := h.request(t, logical.UpdateOperation, "accounts/"+name, data); err != nil {
		t.Fatalf("write accounts/%s: %v", name, err)
	}
}

func (h *harness) account() map[string]any {
	return map[string]any{"key_id": keyID, "email": email, "secret": secret, "token_endpoint": h.srv.URL + authtest.TokenPath, "api_url": h.srv.URL + "/v2"}
}

func (h *harness) readToken(t *testing.T, name string) map[string]any {
	t.Helper()
	resp, err := h.request(t, logical.ReadOperation, "token/"+name, nil)
	if err != nil {
		t.Fatalf("read token/%s: %v", name, err)
	}
	return resp.Data
}

func TestAccountsCRUDNeverReturnsTheSecret(t *testing.T) {
	h := newHarness(t)
	h.writeAccount(t, "prod", h.account())

	resp, err := h.request(t, logical.ReadOperation, "accounts/prod", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"key_id": keyID, "email": email, "token_endpoint": h.srv.URL + authtest.TokenPath,
		"api_url": h.srv.URL + "/v2", "project": "example", "service_account": "fleet",
		"rotation_period": int64(0), "key_created": "", "key_stored": h.clock.now().UTC().Format(time.RFC3339), "key_age": int64(0),
		"next_rotation": "", "last_rotation": "", "last_rotation_result": "", "last_rotation_error": "",
		"unfinished_rotation": "", "unstored_keys": []string{},
	}
	if diff := cmp.Diff(want, resp.Data); diff != "" {
		t.Errorf("read accounts/prod (-want +got):\n%s", diff)
	}

	// An update without the secret keeps the stored one.
	h.writeAccount(t, "prod", map[string]any{"email": "other@example.com"})
	a, err := h.b.getAccount(context.Background(), h.storage, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if a.Secret != secret || a.Email != "other@example.com" || a.KeyID != keyID {
		t.Errorf("after a partial update: key id %q, email %q, secret kept %v", a.KeyID, a.Email, a.Secret == secret)
	}

	h.writeAccount(t, "staging", h.account())
	resp, err = h.request(t, logical.ListOperation, "accounts/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"prod", "staging"}, resp.Data["keys"]); diff != "" {
		t.Errorf("list accounts (-want +got):\n%s", diff)
	}

	if _, err := h.request(t, logical.DeleteOperation, "accounts/prod", nil); err != nil {
		t.Fatal(err)
	}
	resp, err = h.request(t, logical.ReadOperation, "accounts/prod", nil)
	if err != nil || resp != nil {
		t.Errorf("read of a deleted account: %v, %v; want no response, no error", resp, err)
	}
	if strings.Contains(h.logs.String(), secret) {
		t.Error("the engine's log holds the secret")
	}
}

// TestAccountsSecretStaysWithItsEndpoint: whoever may update an account
// without knowing its secret cannot point the stored secret at another
// endpoint or key id.
func TestAccountsSecretStaysWithItsEndpoint(t *testing.T) {
	h := newHarness(t)
	h.writeAccount(t, "prod", h.account())
	for _, change := range []map[string]any{
		{"token_endpoint": "https://attacker.example/oauth2/token"},
		{"key_id": "another-key"},
	} {
		if _, err := h.request(t, logical.UpdateOperation, "accounts/prod", change); err == nil || !strings.Contains(err.Error(), "needs the secret again") {
			t.Errorf("update %v without the secret: error %v, want a refusal", change, err)
		}
	}
	a, err := h.b.getAccount(context.Background(), h.storage, "prod")
	if err != nil || a.KeyID != keyID || a.TokenEndpoint != h.srv.URL+authtest.TokenPath {
		t.Fatalf("after the refused updates: %v, key id %q, endpoint %q", err, a.KeyID, a.TokenEndpoint)
	}
	// With the secret, the change is the owner's to make.
	h.writeAccount(t, "prod", map[string]any{"key_id": "another-key", "secret": secret})
}

func TestAccountsWriteValidation(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name string
		data map[string]any
		want string
	}{
		{"missing all", map[string]any{}, "missing key_id, email, secret"},
		{"missing secret", map[string]any{"key_id": "k", "email": "e"}, "missing secret"},
		{"plain http to a remote host", map[string]any{"key_id": "k", "email": "e", "secret": secret, "token_endpoint": "http://identity.example.com/oauth2/token"}, "plain http"},
		{"not a URL", map[string]any{"key_id": "k", "email": "e", "secret": secret, "token_endpoint": "identity"}, "not an absolute URL"},
		{"user info", map[string]any{"key_id": "k", "email": "e", "secret": secret, "token_endpoint": "https://u:p@identity.example.com/"}, "user information"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.request(t, logical.UpdateOperation, "accounts/bad", tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error holds the secret: %v", err)
			}
			if a, _ := h.b.getAccount(context.Background(), h.storage, "bad"); a != nil {
				t.Error("a refused account was stored")
			}
		})
	}
	// The default endpoint is DT's.
	h.writeAccount(t, "default", map[string]any{"key_id": "k", "email": "e", "secret": secret})
	resp, _ := h.request(t, logical.ReadOperation, "accounts/default", nil)
	if got := resp.Data["token_endpoint"]; got != auth.DefaultTokenEndpoint {
		t.Errorf("default token endpoint %v, want %s", got, auth.DefaultTokenEndpoint)
	}
}

func TestTokenRead(t *testing.T) {
	h := newHarness(t)
	h.writeAccount(t, "prod", h.account())
	data := h.readToken(t, "prod")
	tok, _ := data["access_token"].(string)
	if !h.srv.Valid(tok) {
		t.Fatalf("the emulator does not accept the token read (%d chars)", len(tok))
	}
	want := map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_at":   h.clock.now().Add(authtest.DefaultTokenTTL).UTC().Format(time.RFC3339),
		"ttl":          int64(authtest.DefaultTokenTTL / time.Second),
	}
	if diff := cmp.Diff(want, data); diff != "" {
		t.Errorf("read token/prod (-want +got):\n%s", diff)
	}
	if _, err := h.request(t, logical.ReadOperation, "token/nosuch", nil); err == nil || !strings.Contains(err.Error(), `"nosuch" does not exist`) {
		t.Errorf("token of a missing account: %v", err)
	}
}

func TestTokenSingleFlightPerLifetime(t *testing.T) {
	h := newHarness(t)
	h.writeAccount(t, "prod", h.account())
	const readers = 1000
	var wg sync.WaitGroup
	toks := make([]string, readers)
	errs := make([]error, readers)
	for i := range readers {
		wg.Go(func() {
			resp, err := h.request(t, logical.ReadOperation, "token/prod", nil)
			errs[i] = err
			if err == nil {
				toks[i], _ = resp.Data["access_token"].(string)
			}
		})
	}
	wg.Wait()
	for i := range readers {
		if errs[i] != nil {
			t.Fatalf("reader %d: %v", i, errs[i])
		}
		if toks[i] != toks[0] {
			t.Fatalf("reader %d got another token than reader 0", i)
		}
	}
	if n := h.srv.Requests(); n != 1 {
		t.Fatalf("%d readers made %d token requests, want 1", readers, n)
	}

	// Within the lifetime less the buffer the token is served as is; past
	// it, one new request.
	h.clock.add(authtest.DefaultTokenTTL - bearer.DefaultRefreshBuffer - time.Second)
	if h.readToken(t, "prod")["access_token"] != toks[0] || h.srv.Requests() != 1 {
		t.Fatalf("a token with more than the buffer left was refreshed (%d requests)", h.srv.Requests())
	}
	h.clock.add(2 * time.Second)
	if h.readToken(t, "prod")["access_token"] == toks[0] || h.srv.Requests() != 2 {
		t.Fatalf("a token within the buffer was not refreshed (%d requests)", h.srv.Requests())
	}
}

// A token granted for less than twice the buffer is refreshed at half its
// lifetime, not on every read.
func TestShortLivedTokenRefreshedAtHalfLife(t *testing.T) {
	h := newHarness(t)
	h.srv.SetTokenTTL(60 * time.Second)
	h.writeAccount(t, "prod", h.account())
	first := h.readToken(t, "prod")
	h.clock.add(29 * time.Second)
	if h.readToken(t, "prod")["access_token"] != first["access_token"] {
		t.Fatal("a 60s token was refreshed after 29s")
	}
	h.clock.add(2 * time.Second)
	if h.readToken(t, "prod")["access_token"] == first["access_token"] {
		t.Fatal("a 60s token was not refreshed after 31s")
	}
	if n := h.srv.Requests(); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
}

func TestAccountChangeInvalidatesToken(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, h *harness)
	}{
		{"update", func(t *testing.T, h *harness) { h.writeAccount(t, "prod", map[string]any{"email": email}) }},
		{"delete and write again", func(t *testing.T, h *harness) {
			if _, err := h.request(t, logical.DeleteOperation, "accounts/prod", nil); err != nil {
				t.Fatal(err)
			}
			h.writeAccount(t, "prod", h.account())
		}},
		{"changed on another node", func(t *testing.T, h *harness) {
			h.node(t, h.storage, false).writeAccount(t, "prod", map[string]any{"email": email})
			h.b.invalidate(context.Background(), "accounts/prod")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.writeAccount(t, "prod", h.account())
			first := h.readToken(t, "prod")["access_token"]
			tc.change(t, h)
			if h.readToken(t, "prod")["access_token"] == first || h.srv.Requests() != 2 {
				t.Fatalf("after the change the cached token was served (%d requests)", h.srv.Requests())
			}
		})
	}
	t.Run("delete", func(t *testing.T) {
		h := newHarness(t)
		h.writeAccount(t, "prod", h.account())
		h.readToken(t, "prod")
		if _, err := h.request(t, logical.DeleteOperation, "accounts/prod", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := h.request(t, logical.ReadOperation, "token/prod", nil); err == nil {
			t.Fatal("a deleted account's token was served")
		}
	})
}

func codeOf(err error) int {
	var coded logical.HTTPCodedError
	if errors.As(err, &coded) {
		return coded.Code()
	}
	return 0
}

func TestTokenErrors(t *testing.T) {
	t.Run("rejected", func(t *testing.T) {
		h := newHarness(t)
		acct := h.account()
		acct["secret"] = "a-wrong-secret-value"
		h.writeAccount(t, "prod", acct)
		_, err := h.request(t, logical.ReadOperation, "token/prod", nil)
		if code := codeOf(err); code != http.StatusBadRequest {
			t.Fatalf("error %v with code %d, want 400", err, code)
		}
		if !strings.Contains(err.Error(), keyID) || !strings.Contains(err.Error(), "rejected") {
			t.Errorf("error %q does not name the key id and say rejected", err)
		}
		if strings.Contains(err.Error(), "a-wrong-secret-value") {
			t.Error("the error holds the secret")
		}
		if n := h.srv.Requests(); n != 1 {
			t.Errorf("a rejection was retried: %d requests", n)
		}
	})
	t.Run("outage retried then 503", func(t *testing.T) {
		h := newHarness(t)
		h.writeAccount(t, "prod", h.account())
		h.srv.InjectAlways(authtest.ErrorFault(503, "temporarily_unavailable", "down"))
		_, err := h.request(t, logical.ReadOperation, "token/prod", nil)
		if code := codeOf(err); code != http.StatusServiceUnavailable {
			t.Fatalf("error %v with code %d, want 503", err, code)
		}
		if n := h.srv.Requests(); n != 3 {
			t.Errorf("%d requests, want 3 (two retries)", n)
		}
	})
	t.Run("not a token: 502", func(t *testing.T) {
		h := newHarness(t)
		h.writeAccount(t, "prod", h.account())
		h.srv.Inject(authtest.Fault{Status: 200, Body: `{"token_type":"bearer"}`})
		_, err := h.request(t, logical.ReadOperation, "token/prod", nil)
		if code := codeOf(err); code != http.StatusBadGateway {
			t.Fatalf("error %v with code %d, want 502", err, code)
		}
	})
	t.Run("cached token served on an outage", func(t *testing.T) {
		h := newHarness(t)
		h.writeAccount(t, "prod", h.account())
		first := h.readToken(t, "prod")["access_token"]
		h.clock.add(authtest.DefaultTokenTTL - 30*time.Second) // due, not expired
		h.srv.InjectAlways(authtest.ErrorFault(503, "temporarily_unavailable", "down"))
		if got := h.readToken(t, "prod")["access_token"]; got != first {
			t.Fatal("the cached token was not served during the outage")
		}
		if !strings.Contains(h.logs.String(), "serving the cached token") {
			t.Errorf("no warning logged; log:\n%s", h.logs.String())
		}
		h.clock.add(time.Minute) // expired now
		if _, err := h.request(t, logical.ReadOperation, "token/prod", nil); codeOf(err) != http.StatusServiceUnavailable {
			t.Fatalf("an expired token during an outage: %v, want a 503", err)
		}
		if l := h.logs.String(); strings.Contains(l, secret) || strings.Contains(l, first.(string)) {
			t.Error("the log holds the secret or the token")
		}
	})
	t.Run("rejected after a cached token: not served", func(t *testing.T) {
		h := newHarness(t)
		h.writeAccount(t, "prod", h.account())
		h.readToken(t, "prod")
		h.clock.add(authtest.DefaultTokenTTL - 30*time.Second)
		h.srv.Inject(authtest.ErrorFault(400, "invalid_grant", "key revoked"))
		if _, err := h.request(t, logical.ReadOperation, "token/prod", nil); codeOf(err) != http.StatusBadRequest {
			t.Fatalf("a rejected refresh: %v, want a 400", err)
		}
	})
}

// TestClassify: a failure that says it is the account's configuration
// (package misconfig: auth's ConfigError, or any error with the behaviour)
// is a 400 that tells the reader what is wrong; the others keep their codes
// and tell the reader nothing an endpoint wrote.
func TestClassify(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name string
		err  error
		code int
		says string
	}{
		{"auth's configuration error", &auth.ConfigError{Msg: "token endpoint \"x\" is not an absolute URL"}, http.StatusBadRequest, "not an absolute URL"},
		{"any misconfigured error, wrapped", fmt.Errorf("refresh: %w", misconfig.Errorf("missing email")), http.StatusBadRequest, "missing email"},
		{"rejected", &auth.Error{Kind: auth.Rejected, Endpoint: "https://id.example/token", KeyID: keyID}, http.StatusBadRequest, keyID},
		{"transient", &auth.Error{Kind: auth.Transient, Endpoint: "https://id.example/token", KeyID: keyID}, http.StatusServiceUnavailable, keyID},
		{"other", errors.New("the endpoint said <secret stuff>"), http.StatusBadGateway, "Vault server's log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := h.b.classify("prod", tc.err)
			if codeOf(err) != tc.code || !strings.Contains(err.Error(), "account prod: ") || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("classify = %v (code %d); want code %d saying %q", err, codeOf(err), tc.code, tc.says)
			}
			if strings.Contains(err.Error(), "secret stuff") {
				t.Error("the reader is shown what the endpoint wrote")
			}
		})
	}
}

func TestEveryPathHasHelp(t *testing.T) {
	h := newHarness(t)
	for _, p := range h.b.Paths {
		if strings.TrimSpace(p.HelpSynopsis) == "" || strings.TrimSpace(p.HelpDescription) == "" {
			t.Errorf("path %s lacks help", p.Pattern)
		}
		for name, f := range p.Fields {
			if f.Description == "" {
				t.Errorf("path %s field %s lacks a description", p.Pattern, name)
			}
		}
	}
	for _, path := range []string{"config", "accounts/prod", "accounts/", "token/prod"} {
		resp, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.HelpOperation, Path: path, Storage: h.storage})
		if err != nil {
			t.Fatalf("help %s: %v", path, err)
		}
		if help, _ := resp.Data["help"].(string); !strings.Contains(help, "## DESCRIPTION") {
			t.Errorf("help %s:\n%s", path, help)
		}
	}
}

func TestSealWrapsAccountsAndTokens(t *testing.T) {
	h := newHarness(t)
	if diff := cmp.Diff([]string{"accounts/", "tokens/"}, h.b.SpecialPaths().SealWrapStorage); diff != "" {
		t.Errorf("SealWrapStorage (-want +got):\n%s", diff)
	}
}

// TestTokenErrorsCarryNoResponseBody: a reader of token/<name> learns the
// status and the OAuth error code, never what the endpoint wrote; that goes
// to the server's log, sanitized and bounded.
func TestTokenErrorsCarryNoResponseBody(t *testing.T) {
	const opaque = "Zm9vYmFyQkFaUVVYb3BhcXVlVG9rZW5MaWtlU3RyaW5n" // mixed case: redacted
	for _, tc := range []struct {
		name   string
		fault  authtest.Fault
		code   int
		say    string // what the reader's error must say
		hidden string // what only the log may hold
	}{
		{"an OAuth error", authtest.ErrorFault(400, "invalid_grant", "description-marker"), 400, "HTTP 400 invalid_grant", "description-marker"},
		{"an unknown error code", authtest.ErrorFault(400, "code-marker-of-a-hostile-service", "x"), 400, "HTTP 400", "code-marker-of-a-hostile-service"},
		{"an HTML page", authtest.Fault{Status: 500, ContentType: "text/html", Body: "<html>page-marker " + opaque + " " + strings.Repeat("x", 5000) + "</html>"}, 503, "HTTP 500", "page-marker"},
		{"a 200 that is not a token", authtest.Fault{Status: 200, Body: `{"note":"body-marker"}`}, 502, "HTTP 200", "body-marker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.writeAccount(t, "prod", h.account())
			h.srv.InjectAlways(tc.fault)
			_, err := h.request(t, logical.ReadOperation, "token/prod", nil)
			if code := codeOf(err); code != tc.code || !strings.Contains(err.Error(), tc.say) {
				t.Fatalf("error %v (code %d), want a %d saying %q", err, code, tc.code, tc.say)
			}
			if strings.Contains(err.Error(), tc.hidden) || strings.Contains(err.Error(), "html") {
				t.Errorf("the reader's error holds the response body: %v", err)
			}
			logs := h.logs.String()
			if !strings.Contains(logs, tc.hidden) {
				t.Errorf("the server log lacks the response (%q):\n%s", tc.hidden, logs)
			}
			if strings.Contains(logs, opaque) || strings.Contains(logs, strings.Repeat("x", 300)) {
				t.Errorf("the server log holds the body unsanitized or unbounded:\n%.2000s", logs)
			}
		})
	}
}

// TestAccountsSecretLineEnd: a secret written from a file (secret=- < file,
// secret=@file) ends with the file's line end, which is not part of it; any
// other whitespace or control character is a mistake, refused at once
// rather than at every token read as invalid_grant.
func TestAccountsSecretLineEnd(t *testing.T) {
	for _, written := range []string{secret + "\n", secret + "\r\n"} {
		t.Run(strings.ReplaceAll(strings.ReplaceAll(written[len(secret):], "\r", `\r`), "\n", `\n`), func(t *testing.T) {
			h := newHarness(t)
			acct := h.account()
			acct["secret"] = written
			h.writeAccount(t, "prod", acct)
			if tok := h.readToken(t, "prod")["access_token"].(string); !h.srv.Valid(tok) {
				t.Fatal("the token is not valid")
			}
		})
	}
	for _, tc := range []struct{ name, secret, want string }{
		{"two line ends", secret + "\n\n", "whitespace"},
		{"leading space", " " + secret, "whitespace"},
		{"trailing space", secret + " \n", "whitespace"},
		{"trailing tab", secret + "\t", "whitespace"},
		{"a NUL inside", "engine\x00secret", "control character"},
		{"a line end inside", "engine\nsecret", "control character"},
		{"only a line end", "\n", "missing secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			acct := h.account()
			acct["secret"] = tc.secret
			_, err := h.request(t, logical.UpdateOperation, "accounts/prod", acct)
			if err == nil || codeOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("secret %q: error %v (code %d), want a 400 saying %q", tc.name, err, codeOf(err), tc.want)
			}
			if strings.Contains(err.Error(), "engine") || strings.Contains(err.Error(), secret) {
				t.Errorf("the error quotes the secret: %v", err)
			}
			if a, _ := h.b.getAccount(context.Background(), h.storage, "prod"); a != nil {
				t.Error("the refused account was stored")
			}
		})
	}
}
