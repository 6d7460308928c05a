//go:build unix

package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/hashicorp/vault/api"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil/baotest"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken"
)

const (
	keyID  = "key-fleet-e2e"
	email  = "fleet@example.serviceaccount.d21s.com"
	secret = "e2e-dt-secret-never-in-plain-text"
)

// readJSON runs `bao read -format=json path` and returns its data.
func readJSON(t *testing.T, s *baotest.Server, path string) map[string]any {
	t.Helper()
	var out struct{ Data map[string]any }
	if err := json.Unmarshal([]byte(s.CLI(t, "", "read", "-format=json", path)), &out); err != nil {
		t.Fatalf("bao read %s: %v", path, err)
	}
	return out.Data
}

// TestEngineInOpenBao drives the engine through a real OpenBao dev server
// and its CLI, as an operator and a machine would, against the DT identity
// emulator on loopback http.
func TestEngineInOpenBao(t *testing.T) {
	srv := baotest.Start(t, baotest.Options{})
	dt := authtest.NewServer(authtest.Account{KeyID: keyID, Email: email, Secret: secret})
	t.Cleanup(dt.Close)
	endpoint := dt.URL + authtest.TokenPath

	// The secret goes in on stdin (secret=-), never on argv.
	srv.CLI(t, secret, "write", "dt/accounts/prod", "key_id="+keyID, "email="+email, "token_endpoint="+endpoint, "secret=-")

	var tokens []string
	t.Run("token read returns a token DT accepts", func(t *testing.T) {
		data := readJSON(t, srv, "dt/token/prod")
		tok, _ := data["access_token"].(string)
		if !dt.Valid(tok) {
			t.Fatalf("the emulator does not accept the token read through OpenBao")
		}
		tokens = append(tokens, tok)
		if data["token_type"] != "Bearer" {
			t.Errorf("token_type %v", data["token_type"])
		}
		at, err := time.Parse(time.RFC3339, data["expires_at"].(string))
		if err != nil || time.Until(at) < 50*time.Minute {
			t.Errorf("expires_at %v (%v), want about an hour ahead", data["expires_at"], err)
		}
		if ttl, _ := data["ttl"].(float64); ttl < 3000 || ttl > 3600 {
			t.Errorf("ttl %v, want about 3600", data["ttl"])
		}
		// No lease, like the GCP engine's access tokens.
		out := srv.CLI(t, "", "read", "-format=json", "dt/token/prod")
		var full struct {
			LeaseID       string `json:"lease_id"`
			LeaseDuration int    `json:"lease_duration"`
		}
		if err := json.Unmarshal([]byte(out), &full); err != nil || full.LeaseID != "" || full.LeaseDuration != 0 {
			t.Errorf("the token came with a lease: %+v (%v)", full, err)
		}
	})

	t.Run("account read never shows the secret", func(t *testing.T) {
		out := srv.CLI(t, "", "read", "-format=json", "dt/accounts/prod")
		if strings.Contains(out, secret) {
			t.Fatal("bao read dt/accounts/prod shows the secret")
		}
		data := readJSON(t, srv, "dt/accounts/prod")
		if data["key_id"] != keyID || data["email"] != email || data["token_endpoint"] != endpoint {
			t.Errorf("account read %v", data)
		}
		if list := srv.CLI(t, "", "list", "dt/accounts"); !strings.Contains(list, "prod") {
			t.Errorf("bao list dt/accounts:\n%s", list)
		}
	})

	t.Run("50 concurrent reads make one DT request", func(t *testing.T) {
		srv.CLI(t, secret, "write", "dt/accounts/burst", "key_id="+keyID, "email="+email, "token_endpoint="+endpoint, "secret=-")
		dt.ResetRequests()
		client := rootClient(t, srv)
		const readers = 50
		got := make([]string, readers)
		errs := make([]error, readers)
		var wg sync.WaitGroup
		for i := range readers {
			wg.Go(func() {
				s, err := client.Logical().Read("dt/token/burst")
				errs[i] = err
				if err == nil && s != nil {
					got[i], _ = s.Data["access_token"].(string)
				}
			})
		}
		wg.Wait()
		for i := range readers {
			if errs[i] != nil || got[i] == "" || got[i] != got[0] {
				t.Fatalf("reader %d: error %v, token of %d chars, same as reader 0: %v", i, errs[i], len(got[i]), got[i] == got[0])
			}
		}
		if n := dt.Requests(); n != 1 {
			t.Fatalf("%d concurrent reads made %d DT token requests, want 1", readers, n)
		}
		tokens = append(tokens, got[0])
	})

	t.Run("a rejected account is a 400 naming the key id", func(t *testing.T) {
		srv.CLI(t, "wrong-secret-for-e2e", "write", "dt/accounts/bad", "key_id="+keyID, "email="+email, "token_endpoint="+endpoint, "secret=-")
		out, errs, err := srv.Run(context.Background(), "", "", "read", "dt/token/bad")
		if err == nil {
			t.Fatalf("bao read of a rejected account succeeded:\n%s", out)
		}
		if !strings.Contains(errs, "Code: 400") || !strings.Contains(errs, keyID) || !strings.Contains(errs, "rejected") {
			t.Errorf("bao read error:\n%s", errs)
		}
		if strings.Contains(errs, "wrong-secret-for-e2e") {
			t.Error("the error shows the secret")
		}
	})

	t.Run("a DT outage is a 503 after retries", func(t *testing.T) {
		srv.CLI(t, secret, "write", "dt/accounts/down", "key_id="+keyID, "email="+email, "token_endpoint="+endpoint, "secret=-")
		dt.InjectAlways(authtest.ErrorFault(503, "temporarily_unavailable", "down for the test"))
		defer dt.ClearFaults()
		dt.ResetRequests()
		_, errs, err := srv.Run(context.Background(), "", "", "read", "dt/token/down")
		if err == nil || !strings.Contains(errs, "Code: 503") {
			t.Fatalf("bao read during an outage: %v\n%s", err, errs)
		}
		n := dt.Requests()
		if n < 2 {
			t.Errorf("%d DT requests: the outage was not retried", n)
		}
		// Inside the back-off the same 503 comes at once, DT not asked.
		// (Vault's client would retry a 503 on its own, after the back-off.)
		client := rootClient(t, srv)
		client.SetMaxRetries(0)
		_, err = client.Logical().Read("dt/token/down")
		if err == nil || !strings.Contains(err.Error(), "Code: 503") || !strings.Contains(err.Error(), "not tried again before") {
			t.Errorf("a read inside the back-off: %v; want the 503 again, saying when DT is asked next", err)
		}
		if m := dt.Requests(); m != n {
			t.Errorf("a read inside the back-off made %d DT requests, want none", m-n)
		}
	})

	t.Run("a cached token due for refresh but valid is served during an outage", func(t *testing.T) {
		// A 4 s token is due after 2 s (the buffer is at most half the
		// lifetime); the outage answers Retry-After: 0, so the engine's
		// retries are over long before the token expires.
		dt.SetTokenTTL(4 * time.Second)
		srv.CLI(t, secret, "write", "dt/accounts/short", "key_id="+keyID, "email="+email, "token_endpoint="+endpoint, "secret=-")
		first := readJSON(t, srv, "dt/token/short")["access_token"]
		dt.SetTokenTTL(authtest.DefaultTokenTTL)
		time.Sleep(2100 * time.Millisecond)
		dt.InjectAlways(authtest.Fault{Status: 503, RetryAfter: "0", Body: `{"error":"temporarily_unavailable"}`})
		defer dt.ClearFaults()
		dt.ResetRequests()
		if got := readJSON(t, srv, "dt/token/short")["access_token"]; got != first {
			t.Fatal("the cached token was not served during the outage")
		}
		// Covered by a valid token, the refresh is a single attempt, and
		// the back-off after it holds DT off for the next readers.
		if dt.Requests() != 1 {
			t.Errorf("%d DT requests, want 1: the due token's refresh is a single attempt", dt.Requests())
		}
		client := rootClient(t, srv)
		for i := range 20 {
			s, err := client.Logical().Read("dt/token/short")
			if err != nil || s.Data["access_token"] != first {
				t.Fatalf("read %d inside the back-off: %v; want the cached token", i, err)
			}
		}
		if dt.Requests() != 1 {
			t.Errorf("the reads inside the back-off made %d DT requests, want none", dt.Requests()-1)
		}
	})

	t.Run("path-help", func(t *testing.T) {
		for path, want := range map[string]string{
			"dt/token/prod":    "Generate an OAuth2 access token",
			"dt/accounts/prod": "write-only",
			"dt/accounts/":     "List the names",
			"dt/":              "short-lived OAuth2 access tokens",
		} {
			if out := srv.CLI(t, "", "path-help", path); !strings.Contains(out, want) {
				t.Errorf("bao path-help %s lacks %q:\n%s", path, want, out)
			}
		}
	})

	// Last: the audit log has seen every request above.
	t.Run("the server's log (the engine's included) holds no secret or token", func(t *testing.T) {
		log, err := os.ReadFile(srv.Log)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(log), "serving the cached token") {
			t.Errorf("the engine's warning for the outage is not in the server's log (%d bytes)", len(log))
		}
		if strings.Contains(string(log), secret) {
			t.Error("the server's log holds the secret")
		}
		for _, tok := range tokens {
			if strings.Contains(string(log), tok) {
				t.Error("the server's log holds an access token")
			}
		}
	})

	t.Run("the audit log holds no secret or token in plain text", func(t *testing.T) {
		log, err := os.ReadFile(srv.AuditLog)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(log), "dt/accounts/prod") || !strings.Contains(string(log), "hmac-sha256:") {
			t.Fatalf("the audit log (%d bytes) did not record the account write with HMACs", len(log))
		}
		if strings.Contains(string(log), secret) {
			t.Error("the audit log holds the secret in plain text")
		}
		for _, tok := range tokens {
			if strings.Contains(string(log), tok) {
				t.Error("the audit log holds an access token in plain text")
			}
		}
	})
}

// TestEngineEndpointRulesInOpenBao: dt/config, the operator's, decides where
// the engine may send token requests; a reader never sees what an endpoint
// answered; a secret written from a file loses its line end.
func TestEngineEndpointRulesInOpenBao(t *testing.T) {
	srv := baotest.Start(t, baotest.Options{DefaultConfig: true})
	dt := authtest.NewServer(authtest.Account{KeyID: keyID, Email: email, Secret: secret})
	t.Cleanup(dt.Close)
	endpoint := dt.URL + authtest.TokenPath

	// A service only the Vault host can reach, which records its requests.
	var internal atomic.Int32
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internal.Add(1)
		_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"internal-service-marker"}`))
	}))
	t.Cleanup(svc.Close)

	// A team's writer may write its own accounts and read their tokens,
	// and nothing else, dt/config included.
	srv.CLI(t, `path "dt/accounts/team-*" { capabilities = ["create", "update", "read"] }
path "dt/token/team-*" { capabilities = ["read"] }`, "policy", "write", "team", "-")
	var created struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		}
	}
	if err := json.Unmarshal([]byte(srv.CLI(t, "", "token", "create", "-policy=team", "-format=json")), &created); err != nil {
		t.Fatal(err)
	}
	team := created.Auth.ClientToken
	ctx := context.Background()

	t.Run("a loopback endpoint is refused by default and gets no request", func(t *testing.T) {
		for _, ep := range []string{svc.URL + "/oauth2/token", strings.Replace(svc.URL, "http:", "https:", 1) + "/oauth2/token"} {
			_, errs, err := srv.Run(ctx, team, secret, "write", "dt/accounts/team-x", "key_id="+keyID, "email="+email, "token_endpoint="+ep, "secret=-")
			if err == nil || !strings.Contains(errs, "Code: 400") || !strings.Contains(errs, "dt/config") {
				t.Errorf("team write of token_endpoint=%s: %v\n%s", ep, err, errs)
			}
			if out, errs, err := srv.Run(ctx, team, "", "read", "dt/token/team-x"); err == nil || strings.Contains(out+errs, "internal-service-marker") {
				t.Errorf("token read of an account at %s: %v\n%s%s", ep, err, out, errs)
			}
		}
		if n := internal.Load(); n != 0 {
			t.Fatalf("the loopback service got %d requests", n)
		}
		if _, errs, err := srv.Run(ctx, team, "", "write", "dt/config", "allow_loopback_http=true"); err == nil || !strings.Contains(errs, "permission denied") {
			t.Fatalf("the team's token wrote dt/config: %v\n%s", err, errs)
		}
		data := readJSON(t, srv, "dt/config")
		if hosts, _ := data["allowed_token_endpoint_hosts"].([]any); len(hosts) != 1 || hosts[0] != "identity.disruptive-technologies.com" || data["allow_loopback_http"] != false {
			t.Errorf("dt/config as it comes: %v", data)
		}
	})

	t.Run("allowed by the operator, the emulator works", func(t *testing.T) {
		srv.CLI(t, "", "write", "dt/config", "allow_loopback_http=true")
		srv.CLI(t, secret, "write", "dt/accounts/team-x", "key_id="+keyID, "email="+email, "token_endpoint="+endpoint, "secret=-")
		if tok, _ := readJSON(t, srv, "dt/token/team-x")["access_token"].(string); !dt.Valid(tok) {
			t.Fatal("the token is not valid at the emulator")
		}
	})

	t.Run("a secret written from a file with its line end works", func(t *testing.T) {
		srv.CLI(t, secret+"\n", "write", "dt/accounts/team-file", "key_id="+keyID, "email="+email, "token_endpoint="+endpoint, "secret=-")
		if tok, _ := readJSON(t, srv, "dt/token/team-file")["access_token"].(string); !dt.Valid(tok) {
			t.Fatal("the token is not valid at the emulator")
		}
		_, errs, err := srv.Run(ctx, "", " "+secret+"\n", "write", "dt/accounts/team-space", "key_id="+keyID, "email="+email, "token_endpoint="+endpoint, "secret=-")
		if err == nil || !strings.Contains(errs, "Code: 400") || !strings.Contains(errs, "whitespace") || strings.Contains(errs, secret) {
			t.Fatalf("a secret with a leading space: %v\n%s", err, errs)
		}
	})

	t.Run("an error answer's body reaches the server log only, sanitized and bounded", func(t *testing.T) {
		const opaque = "Zm9vYmFyQkFaUVVYb3BhcXVlVG9rZW5MaWtlU3RyaW5n"
		dt.InjectAlways(authtest.Fault{Status: 404, ContentType: "text/html", Body: "<html>e2e-body-marker " + opaque + " " + strings.Repeat("x", 5000) + "</html>"})
		defer dt.ClearFaults()
		srv.CLI(t, secret, "write", "dt/accounts/team-err", "key_id="+keyID, "email="+email, "token_endpoint="+endpoint, "secret=-")
		out, errs, err := srv.Run(ctx, team, "", "read", "dt/token/team-err")
		if err == nil || !strings.Contains(errs, "HTTP 404") {
			t.Fatalf("bao read: %v\n%s%s", err, out, errs)
		}
		if strings.Contains(out+errs, "e2e-body-marker") || strings.Contains(out+errs, "html") {
			t.Errorf("bao read shows the endpoint's answer:\n%s%s", out, errs)
		}
		log, err := os.ReadFile(srv.Log)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(log), "e2e-body-marker") {
			t.Errorf("the server log lacks the answer (%d bytes)", len(log))
		}
		if strings.Contains(string(log), opaque) || strings.Contains(string(log), strings.Repeat("x", 300)) {
			t.Error("the server log holds the answer unsanitized or unbounded")
		}
	})
}

// privateDir is a new directory that group and others cannot get into, as
// the file cache requires of its directories (t.TempDir's follow the umask).
func privateDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "private")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func rootClient(t *testing.T, srv *baotest.Server) *api.Client {
	t.Helper()
	conf := api.DefaultConfig()
	conf.Address = srv.Addr
	c, err := api.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(baotest.RootToken)
	return c
}

// vaultEnv points the standard Vault environment at srv with token (none
// when empty) and a HOME without a ~/.vault-token.
func vaultEnv(t *testing.T, srv *baotest.Server, token string) {
	t.Setenv("VAULT_ADDR", srv.Addr)
	t.Setenv("VAULT_CACERT", srv.CACert)
	t.Setenv("VAULT_TOKEN", token)
	t.Setenv("HOME", t.TempDir())
	for _, k := range []string{"VAULT_NAMESPACE", "VAULT_CAPATH", "VAULT_CLIENT_CERT", "VAULT_CLIENT_KEY"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	if token == "" {
		os.Unsetenv("VAULT_TOKEN")
	}
}

// TestClientAgainstOpenBao is the vaulttoken package end to end: a machine
// with a Vault identity (a token, or a JWT it logs in with) and no DT
// secret gets tokens DT accepts, and a Vault identity without the policy
// gets a clear error. The server speaks https, with a CA the client knows
// only through VAULT_CACERT.
func TestClientAgainstOpenBao(t *testing.T) {
	srv := baotest.Start(t, baotest.Options{TLS: true})
	dt := authtest.NewServer(authtest.Account{KeyID: keyID, Email: email, Secret: secret})
	t.Cleanup(dt.Close)
	endpoint := dt.URL + authtest.TokenPath
	for _, name := range []string{"prod", "other"} {
		srv.CLI(t, secret, "write", "dt/accounts/"+name, "key_id="+keyID, "email="+email, "token_endpoint="+endpoint, "secret=-")
	}
	srv.CLI(t, `path "dt/token/prod" { capabilities = ["read"] }`, "policy", "write", "dt-prod", "-")

	// Vault's JWT auth method trusting a local signing key.
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	srv.CLI(t, "", "auth", "enable", "jwt")
	srv.CLI(t, pubPEM, "write", "auth/jwt/config", "jwt_validation_pubkeys=-")
	srv.CLI(t, "", "write", "auth/jwt/role/fleet", "role_type=jwt", "user_claim=sub", "bound_audiences=dt-fleet",
		"bound_subject=system:serviceaccount:gateways:collector", "token_policies=dt-prod", "token_ttl=10m")

	jwtFile := filepath.Join(t.TempDir(), "token")
	signJWT := func(sub string) {
		now := time.Now()
		s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
			"sub": sub, "aud": "dt-fleet", "iss": "https://k8s.example", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		}).SignedString(priv)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(jwtFile, []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("JWT login serves a token DT accepts", func(t *testing.T) {
		signJWT("system:serviceaccount:gateways:collector")
		vaultEnv(t, srv, "a-stray-token-that-must-not-be-used")
		var log testutil.Buffer
		src, err := vaulttoken.NewSource(vaulttoken.Config{Path: "dt/token/prod", JWTFile: jwtFile, Role: "fleet",
			Log: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := src.TokenContext(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// The DT token lives an hour, but the Vault token of the login
		// (the role's token_ttl, 10m) says how long this identity may use
		// it: the expiry is capped there.
		if left := time.Until(tok.Expiry); !dt.Valid(tok.AccessToken) || left < 9*time.Minute || left > 10*time.Minute {
			t.Fatalf("token valid at DT: %v, expiry %v; want one capped at the Vault login's 10m", dt.Valid(tok.AccessToken), tok.Expiry)
		}
		jwtText, _ := os.ReadFile(jwtFile)
		if l := log.String(); !strings.Contains(l, "logged in to vault") || !strings.Contains(l, "token read from vault") ||
			strings.Contains(l, tok.AccessToken) || strings.Contains(l, strings.TrimSpace(string(jwtText))) {
			t.Errorf("the debug log lacks a step or holds the JWT or the token:\n%s", l)
		}
		// The role's policy allows dt/token/prod and nothing else.
		other, err := vaulttoken.NewSource(vaulttoken.Config{Path: "dt/token/other", JWTFile: jwtFile, Role: "fleet"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = other.TokenContext(context.Background())
		checkDenied(t, err, "dt/token/other")
	})

	t.Run("the Vault token from the login is replaced near its end or when revoked", func(t *testing.T) {
		signJWT("system:serviceaccount:gateways:collector")
		vaultEnv(t, srv, "")
		clock := time.Now()
		src, err := vaulttoken.NewSource(vaulttoken.Config{Path: "dt/token/prod", JWTFile: jwtFile, Role: "fleet", Now: func() time.Time { return clock }})
		if err != nil {
			t.Fatal(err)
		}
		read := func() {
			t.Helper()
			if tok, err := src.TokenContext(context.Background()); err != nil || !dt.Valid(tok.AccessToken) {
				t.Fatalf("read: %v", err)
			}
		}
		logins := func() int { return srv.CountAudit(t, "request", "auth/jwt/login") }
		before := logins()
		read()
		read()
		if n := logins() - before; n != 1 {
			t.Fatalf("two reads logged in %d times, want 1", n)
		}
		clock = clock.Add(7 * time.Minute) // of the role's 10m token_ttl
		read()
		if n := logins() - before; n != 2 {
			t.Fatalf("a Vault token with less than a third left was not replaced: %d logins", n)
		}
		// Every token the JWT method issued is revoked: the next read is
		// denied, logs in again and succeeds.
		srv.CLI(t, "", "token", "revoke", "-mode=path", "auth/jwt/")
		read()
		if n := logins() - before; n != 3 {
			t.Fatalf("a revoked Vault token was not replaced: %d logins", n)
		}
	})

	t.Run("under the keyring cache: 10 calls, 1 Vault read; a cached token served while Vault is down", func(t *testing.T) {
		vaultEnv(t, srv, baotest.RootToken)
		src, err := vaulttoken.NewSource(vaulttoken.Config{Path: "dt/token/other"})
		if err != nil {
			t.Fatal(err)
		}
		clock := time.Now()
		// The file cache writes and locks only in private directories.
		storeDir, lockDir := privateDir(t), privateDir(t)
		cache := keyring.NewCache(src, keyring.CacheConfig{
			Location: keyring.Location{Store: keyring.NewFileStore(storeDir), LockDir: lockDir}, Account: keyring.Account{KeyID: "vault-e2e"},
			Now: func() time.Time { return clock },
		})
		before := srv.CountAudit(t, "request", "dt/token/other")
		var first string
		for i := range 10 {
			tok, err := cache.TokenContext(context.Background())
			if err != nil || !dt.Valid(tok.AccessToken) {
				t.Fatalf("call %d: %v", i, err)
			}
			first = tok.AccessToken
		}
		if n := srv.CountAudit(t, "request", "dt/token/other") - before; n != 1 {
			t.Fatalf("10 cached calls made %d Vault reads, want 1", n)
		}
		// Vault unreachable (a closed port) while the cached token is due
		// but not expired: the cache serves it, as it does for DT outages.
		t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")
		down, err := vaulttoken.NewSource(vaulttoken.Config{Path: "dt/token/other"})
		if err != nil {
			t.Fatal(err)
		}
		stale := keyring.NewCache(down, keyring.CacheConfig{
			Location: keyring.Location{Store: keyring.NewFileStore(storeDir)}, Account: keyring.Account{KeyID: "vault-e2e"},
			Now: func() time.Time { return clock.Add(59*time.Minute + 30*time.Second) },
		})
		if tok, err := stale.TokenContext(context.Background()); err != nil || tok.AccessToken != first {
			t.Fatalf("with Vault down and a valid cached token: %v", err)
		}
	})

	t.Run("JWT the role does not accept", func(t *testing.T) {
		signJWT("system:serviceaccount:default:intruder")
		vaultEnv(t, srv, "")
		src, err := vaulttoken.NewSource(vaulttoken.Config{Path: "dt/token/prod", JWTFile: jwtFile, Role: "fleet"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.TokenContext(context.Background())
		var ve *vaulttoken.Error
		t.Logf("error: %v", err)
		if !errors.As(err, &ve) || ve.Temporary() || !strings.Contains(err.Error(), "role fleet") {
			t.Fatalf("error %v, want a permanent login failure naming the role", err)
		}
		if b, _ := os.ReadFile(jwtFile); strings.Contains(err.Error(), strings.TrimSpace(string(b))) {
			t.Error("the error shows the JWT")
		}
	})

	t.Run("VAULT_TOKEN without the policy", func(t *testing.T) {
		var created struct {
			Auth struct {
				ClientToken string `json:"client_token"`
			}
		}
		if err := json.Unmarshal([]byte(srv.CLI(t, "", "token", "create", "-policy=default", "-format=json")), &created); err != nil {
			t.Fatal(err)
		}
		vaultEnv(t, srv, created.Auth.ClientToken)
		dt.ResetRequests()
		src, err := vaulttoken.NewSource(vaulttoken.Config{Path: "dt/token/prod"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.TokenContext(context.Background())
		checkDenied(t, err, "dt/token/prod")
		if strings.Contains(err.Error(), created.Auth.ClientToken) {
			t.Error("the error shows the Vault token")
		}
		if n := dt.Requests(); n != 0 {
			t.Errorf("a denied read reached DT %d times", n)
		}
	})

	t.Run("~/.vault-token", func(t *testing.T) {
		vaultEnv(t, srv, "")
		home := os.Getenv("HOME")
		if err := os.WriteFile(filepath.Join(home, ".vault-token"), []byte(baotest.RootToken+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		src, err := vaulttoken.NewSource(vaulttoken.Config{Path: "dt/token/prod"})
		if err != nil {
			t.Fatal(err)
		}
		if tok, err := src.TokenContext(context.Background()); err != nil || !dt.Valid(tok.AccessToken) {
			t.Fatalf("with ~/.vault-token: %v", err)
		}
	})

	t.Run("no Vault token at all", func(t *testing.T) {
		vaultEnv(t, srv, "")
		src, err := vaulttoken.NewSource(vaulttoken.Config{Path: "dt/token/prod"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.TokenContext(context.Background())
		var ve *vaulttoken.Error
		if !errors.As(err, &ve) || ve.Kind != vaulttoken.Misconfigured || !strings.Contains(err.Error(), "VAULT_TOKEN") {
			t.Fatalf("error %v, want a configuration error saying how to give a Vault token", err)
		}
	})

	t.Run("nothing at the path", func(t *testing.T) {
		vaultEnv(t, srv, baotest.RootToken)
		src, err := vaulttoken.NewSource(vaulttoken.Config{Path: "dt/token/nosuch"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.TokenContext(context.Background())
		var ve *vaulttoken.Error
		if !errors.As(err, &ve) || ve.Temporary() || !strings.Contains(err.Error(), "nosuch") {
			t.Fatalf("error %v, want a permanent error naming the account", err)
		}
	})

	t.Run("a path that is not a dt token path", func(t *testing.T) {
		vaultEnv(t, srv, baotest.RootToken)
		srv.CLI(t, "", "kv", "put", "secret/app", "password=kv-value")
		src, err := vaulttoken.NewSource(vaulttoken.Config{Path: "secret/data/app"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.TokenContext(context.Background())
		var ve *vaulttoken.Error
		if !errors.As(err, &ve) || ve.Kind != vaulttoken.BadResponse || strings.Contains(err.Error(), "kv-value") {
			t.Fatalf("error %v, want a bad-response error", err)
		}
	})

	t.Run("VAULT_NAMESPACE", func(t *testing.T) {
		srv.CLI(t, "", "namespace", "create", "team")
		srv.CLI(t, "", "secrets", "enable", "-ns=team", "-path=dt", baotest.PluginName)
		srv.CLI(t, "", "write", "-ns=team", "dt/config", "allow_loopback_http=true")
		srv.CLI(t, secret, "write", "-ns=team", "dt/accounts/teamacct", "key_id="+keyID, "email="+email, "token_endpoint="+endpoint, "secret=-")
		vaultEnv(t, srv, baotest.RootToken)
		t.Setenv("VAULT_NAMESPACE", "team")
		src, err := vaulttoken.NewSource(vaulttoken.Config{Path: "dt/token/teamacct"})
		if err != nil {
			t.Fatal(err)
		}
		if tok, err := src.TokenContext(context.Background()); err != nil || !dt.Valid(tok.AccessToken) {
			t.Fatalf("in namespace team: %v", err)
		}
		os.Unsetenv("VAULT_NAMESPACE")
		root, err := vaulttoken.NewSource(vaulttoken.Config{Path: "dt/token/teamacct"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := root.TokenContext(context.Background()); err == nil {
			t.Fatal("the namespace's account was read without VAULT_NAMESPACE")
		}
	})

	t.Run("an https Vault whose CA is not given", func(t *testing.T) {
		vaultEnv(t, srv, baotest.RootToken)
		os.Unsetenv("VAULT_CACERT")
		src, err := vaulttoken.NewSource(vaulttoken.Config{Path: "dt/token/prod"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.TokenContext(context.Background())
		t.Logf("error: %v", err)
		var ve *vaulttoken.Error
		if !errors.As(err, &ve) || ve.Temporary() || !strings.Contains(err.Error(), "certificate") || !strings.Contains(err.Error(), "VAULT_CACERT") {
			t.Fatalf("error %v, want a permanent one about the certificate, pointing to VAULT_CACERT", err)
		}
	})

	// Last: it seals the server.
	t.Run("a sealed Vault is transient", func(t *testing.T) {
		vaultEnv(t, srv, baotest.RootToken)
		src, err := vaulttoken.NewSource(vaulttoken.Config{Path: "dt/token/prod"})
		if err != nil {
			t.Fatal(err)
		}
		srv.CLI(t, "", "operator", "seal")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err = src.TokenContext(ctx)
		var ve *vaulttoken.Error
		if !errors.As(err, &ve) || !ve.Temporary() || ve.Status != 503 {
			t.Fatalf("error %v, want a transient 503", err)
		}
	})
}

func checkDenied(t *testing.T, err error, path string) {
	t.Helper()
	t.Logf("error: %v", err)
	var ve *vaulttoken.Error
	if !errors.As(err, &ve) || ve.Kind != vaulttoken.Denied || ve.Temporary() {
		t.Fatalf("error %v, want a permanent permission-denied error", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "permission denied") || !strings.Contains(msg, path) {
		t.Errorf("error %q does not say permission denied for %s", msg, path)
	}
}
