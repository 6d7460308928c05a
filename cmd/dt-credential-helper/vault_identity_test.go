//go:build unix

package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/dt-credential-helper/dt-credential-helper/plugin"
)

// A token cached for a Vault path is served only to the Vault identity
// that read it (the Vault token, or the JWT's issuer and subject with the
// role), and never outlives that identity's Vault token. Against a real
// OpenBao server (see vault_test.go).

// tokenJSON is the helper's -o json output.
type tokenJSON struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

func parseTokenJSON(t *testing.T, r result) tokenJSON {
	t.Helper()
	var tok tokenJSON
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("token -o json: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	return tok
}

// TestVaultCacheServesOnlyItsVaultToken: after one Vault token fills the
// cache, a Vault token without the policy (in VAULT_TOKEN or in
// ~/.vault-token) is refused by Vault, which the audit log shows, and no
// Vault token at all is a configuration error, each as on a cold cache;
// the plugin program's long-running sources follow the same rule; the
// Vault token that read the token is still served from the cache.
func TestVaultCacheServesOnlyItsVaultToken(t *testing.T) {
	f := newVaultFleet(t)
	good := f.vaultToken(t, "dt-prod")
	env := withEnv(f.env, "VAULT_TOKEN="+good)
	if r := runBinary(t, env, "", "login", "--profile", "fleet", "--vault-path", "dt/token/prod"); r.code != 0 {
		t.Fatalf("login: exit %d: %s", r.code, r.stderr)
	}
	r := runBinary(t, env, "", "token", "--profile", "fleet", "-o", "token")
	cached := strings.TrimSpace(r.stdout)
	if r.code != 0 || !f.idp.Valid(cached) {
		t.Fatalf("filling the cache: exit %d: %s", r.code, r.stderr)
	}
	reads := f.tokenReads(t, "dt/token/prod")

	denied := f.vaultToken(t, "dt-other")
	vaultTokenFile := filepath.Join(f.home, ".vault-token")
	for _, c := range []struct {
		name      string
		env       []string
		setup     func(t *testing.T)
		code      int
		msg       string
		vaultRead bool // Vault is asked, and refuses
	}{
		{"a Vault token without the policy", withEnv(env, "VAULT_TOKEN="+denied), nil, 1, "permission denied reading dt/token/prod", true},
		{"no Vault token", withoutEnv(env, "VAULT_TOKEN"), nil, 2, "no Vault token", false},
		{"~/.vault-token without the policy", withoutEnv(env, "VAULT_TOKEN"), func(t *testing.T) {
			if err := os.WriteFile(vaultTokenFile, []byte(denied+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Remove(vaultTokenFile) })
		}, 1, "permission denied reading dt/token/prod", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.setup != nil {
				c.setup(t)
			}
			for _, args := range [][]string{{"token", "--profile", "fleet"}, {"token", "--vault-path", "dt/token/prod"}} {
				r := runBinary(t, c.env, "", args...)
				if r.code != c.code || r.stdout != "" || !strings.Contains(r.stderr, c.msg) {
					t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d saying %q", args, r.code, r.stdout, r.stderr, c.code, c.msg)
				}
				if c.vaultRead {
					reads++
				}
				if n := f.tokenReads(t, "dt/token/prod"); n != reads {
					t.Errorf("%v: %d reads of the path in the audit log, want %d", args, n, reads)
				}
			}
			r := runBinary(t, c.env, "", "status")
			if !regexpLine(r.stdout, "fleet", "none (cached for another identity)") {
				t.Errorf("status shows the token cached for another Vault identity:\n%s", r.stdout)
			}
		})
	}

	// The plugin program, a long-running server, decides the same way.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range []struct {
		env   []string
		serve bool
	}{{withEnv(env, "VAULT_TOKEN="+denied), false}, {env, true}} {
		p, stop, err := plugin.Launch(plugin.LaunchConfig{Path: binary, Env: c.env, Logger: hclog.NewNullLogger(), StartTimeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := p.GetToken(ctx, "fleet", false)
		stop()
		switch {
		case c.serve && (err != nil || tok.AccessToken != cached):
			t.Errorf("plugin, the Vault token that read it: %v; want the cached token", err)
		case !c.serve && (err == nil || !strings.Contains(err.Error(), "permission denied")):
			t.Errorf("plugin, a Vault token without the policy: %v; want permission denied", err)
		}
	}
	reads++ // the plugin's refused read

	r = runBinary(t, env, "", "token", "--profile", "fleet", "-o", "token")
	if r.code != 0 || strings.TrimSpace(r.stdout) != cached {
		t.Errorf("the Vault token that read it: exit %d, %s; want the cached token", r.code, r.stderr)
	}
	if n := f.tokenReads(t, "dt/token/prod"); n != reads {
		t.Errorf("%d reads of the path, want %d: the cached token is served without one", n, reads)
	}
	if n := f.idp.Requests(); n != 1 {
		t.Errorf("%d DT token requests, want 1", n)
	}
}

// TestVaultCacheServesOnlyItsJWTSubject: after a JWT login fills the cache,
// a JWT of another subject is refused at login, which the audit log shows
// (exit 1), and a missing JWT file is a configuration error (exit 2), each
// as on a cold cache; a new JWT of the same subject (a rotated projected
// token) is still served from the cache, whose expiry is the Vault token's
// from the login (token_ttl=10m), not the DT token's hour.
func TestVaultCacheServesOnlyItsJWTSubject(t *testing.T) {
	f := newVaultFleet(t)
	const sub = "system:serviceaccount:gateways:collector"
	jwtAuth := f.srv.EnableJWT(t, "fleet", sub, "dt-prod")
	dir := t.TempDir()
	jwtFile := filepath.Join(dir, "token")
	jwtAuth.WriteJWT(t, jwtFile, sub)
	env := f.env // no VAULT_TOKEN, no ~/.vault-token
	if r := runBinary(t, env, "", "login", "--profile", "fleet", "--vault-path", "dt/token/prod",
		"--vault-role", "fleet", "--vault-jwt-file", jwtFile); r.code != 0 {
		t.Fatalf("login: exit %d: %s", r.code, r.stderr)
	}
	tok := parseTokenJSON(t, runBinary(t, env, "", "token", "--profile", "fleet", "-o", "json"))
	if !f.idp.Valid(tok.AccessToken) || tok.ExpiresIn > 600 || tok.ExpiresIn < 500 {
		t.Errorf("filling the cache: a token the emulator accepts: %v; expires in %ds, want at most 600 (the Vault token's 10m)", f.idp.Valid(tok.AccessToken), tok.ExpiresIn)
	}
	logins := f.srv.CountAudit(t, "request", "auth/jwt/login")
	reads := f.tokenReads(t, "dt/token/prod")

	other := filepath.Join(dir, "other")
	jwtAuth.WriteJWT(t, other, "system:serviceaccount:other:intruder")
	for _, c := range []struct {
		name  string
		file  string
		code  int
		msg   string
		login bool // Vault is asked, and refuses
	}{
		{"a JWT of another subject", other, 1, "auth/jwt/login as role fleet", true},
		{"a missing JWT file", filepath.Join(dir, "missing"), 2, "reading the JWT", false},
	} {
		r := runBinary(t, env, "", "token", "--profile", "fleet", "--vault-jwt-file", c.file)
		if r.code != c.code || r.stdout != "" || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d saying %q", c.name, r.code, r.stdout, r.stderr, c.code, c.msg)
		}
		if c.login {
			logins++
		}
		if n := f.srv.CountAudit(t, "request", "auth/jwt/login"); n != logins {
			t.Errorf("%s: %d logins in the audit log, want %d", c.name, n, logins)
		}
	}

	// Rotated: a new JWT of the same subject and issuer.
	time.Sleep(1100 * time.Millisecond) // a new iat, so a new JWT
	jwtAuth.WriteJWT(t, jwtFile, sub)
	again := parseTokenJSON(t, runBinary(t, env, "", "token", "--profile", "fleet", "-o", "json"))
	if again.AccessToken != tok.AccessToken || again.ExpiresIn > 600 {
		t.Errorf("the same subject with a rotated JWT: not the cached token, or expiring in %ds (want at most 600)", again.ExpiresIn)
	}
	if n := f.srv.CountAudit(t, "request", "auth/jwt/login"); n != logins {
		t.Errorf("%d logins, want %d: the cached token is served without one", n, logins)
	}
	if n := f.tokenReads(t, "dt/token/prod"); n != reads {
		t.Errorf("%d reads of the path, want %d", n, reads)
	}
}

// TestVaultTokenTTLCapsCachedExpiry: a token read with a Vault token that
// expires in 5 minutes is cached, and served, as expiring then, not when
// the DT token does; a Vault token that may not look itself up gives no
// cap, and its token is served all the same.
func TestVaultTokenTTLCapsCachedExpiry(t *testing.T) {
	f := newVaultFleet(t)
	short := strings.TrimSpace(f.srv.CLI(t, "", "token", "create", "-field=token", "-policy=dt-prod", "-ttl=5m"))
	env := withEnv(f.env, "VAULT_TOKEN="+short)
	for i := range 2 {
		tok := parseTokenJSON(t, runBinary(t, env, "", "token", "--vault-path", "dt/token/prod", "-o", "json"))
		if tok.ExpiresIn > 300 || tok.ExpiresIn < 200 {
			t.Errorf("call %d: the token expires in %ds; want at most 300, the Vault token's 5 minutes", i, tok.ExpiresIn)
		}
	}
	if n := f.tokenReads(t, "dt/token/prod"); n != 1 {
		t.Errorf("%d reads, want 1 (then cached)", n)
	}

	// No default policy: lookup-self is refused, so nothing caps the expiry.
	blind := strings.TrimSpace(f.srv.CLI(t, "", "token", "create", "-field=token", "-policy=dt-prod", "-no-default-policy", "-ttl=5m"))
	env = withEnv(f.env, "VAULT_TOKEN="+blind, "DT_CACHE_DIR="+filepath.Join(t.TempDir(), "cache"))
	tok := parseTokenJSON(t, runBinary(t, env, "", "token", "--vault-path", "dt/token/prod", "-o", "json", "--cache", "file"))
	if !f.idp.Valid(tok.AccessToken) || tok.ExpiresIn < 3000 {
		t.Errorf("a Vault token that may not look itself up: expires in %ds; want the DT token's hour", tok.ExpiresIn)
	}
}

// TestRunningPluginFollowsItsVaultIdentity: a plugin process that lives
// through a change of ~/.vault-token (a `vault login` as another identity,
// a revoked token removed) serves the cached token only while the file
// still holds the Vault token that read it, as a new process would; it
// worked out its identity once, at its first call, and kept serving the
// cached token to whatever token came after.
func TestRunningPluginFollowsItsVaultIdentity(t *testing.T) {
	f := newVaultFleet(t)
	good := f.vaultToken(t, "dt-prod")
	denied := f.vaultToken(t, "dt-other")
	vaultTokenFile := filepath.Join(f.home, ".vault-token")
	writeVaultToken := func(tok string) {
		t.Helper()
		if err := os.WriteFile(vaultTokenFile, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := withoutEnv(f.env, "VAULT_TOKEN")
	writeVaultToken(good)
	if r := runBinary(t, env, "", "login", "--profile", "fleet", "--vault-path", "dt/token/prod"); r.code != 0 {
		t.Fatalf("login: exit %d: %s", r.code, r.stderr)
	}
	p, _ := mustLaunchPlugin(t, plugin.LaunchConfig{Env: env})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first, err := p.GetToken(ctx, "fleet", false)
	if err != nil || !f.idp.Valid(first.AccessToken) {
		t.Fatalf("GetToken with the Vault token that may read the path: %v", err)
	}
	reads := f.tokenReads(t, "dt/token/prod")

	writeVaultToken(denied)
	if tok, err := p.GetToken(ctx, "fleet", false); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("GetToken after ~/.vault-token changed to a token without the policy: %v (the cached token: %v); want permission denied",
			err, err == nil && tok.AccessToken == first.AccessToken)
	}
	reads++ // Vault's refusal
	if err := os.Remove(vaultTokenFile); err != nil {
		t.Fatal(err)
	}
	if _, err := p.GetToken(ctx, "fleet", false); err == nil || !strings.Contains(err.Error(), "no Vault token") {
		t.Errorf("GetToken after ~/.vault-token was removed: %v; want no Vault token", err)
	}

	writeVaultToken(good)
	if tok, err := p.GetToken(ctx, "fleet", false); err != nil || tok.AccessToken != first.AccessToken {
		t.Errorf("GetToken with the Vault token that read it, again: %v; want the cached token", err)
	}
	if n := f.tokenReads(t, "dt/token/prod"); n != reads {
		t.Errorf("%d reads of the path in the audit log, want %d", n, reads)
	}
	if n := f.idp.Requests(); n != 1 {
		t.Errorf("%d DT token requests, want 1", n)
	}
}
