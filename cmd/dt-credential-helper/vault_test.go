//go:build unix

package main

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil/baotest"
	"github.com/dt-credential-helper/dt-credential-helper/plugin"
)

// These tests run the helper against a real OpenBao server (Vault's
// open-source fork: same API) with vault-plugin-secrets-dt mounted at dt/,
// minting tokens from the DT identity emulator. The machine's side holds no
// DT secret: no DT_SERVICE_ACCOUNT_* variable, no credentials file, and no
// keyring (no session bus); only a Vault identity.

// vaultFleet is an OpenBao server holding the emulator's account at
// dt/accounts/prod, and a machine environment pointing at it.
type vaultFleet struct {
	srv  *baotest.Server
	idp  *authtest.Server
	env  []string // the machine's: HOME, caches, VAULT_ADDR, git set up; no VAULT_TOKEN
	home string
}

func newVaultFleet(t *testing.T) *vaultFleet {
	t.Helper()
	return newVaultFleetWith(t, baotest.Options{})
}

// newVaultFleetWith is newVaultFleet with a server started with opts.
func newVaultFleetWith(t *testing.T, opts baotest.Options) *vaultFleet {
	t.Helper()
	srv := baotest.Start(t, opts)
	idp := authtest.NewServer(testAccount)
	t.Cleanup(idp.Close)
	srv.CLI(t, testSecret, "write", "dt/accounts/prod", "key_id="+testAccount.KeyID, "email="+testAccount.Email,
		"token_endpoint="+idp.TokenURL(), "secret=-")
	srv.CLI(t, `path "dt/token/prod" { capabilities = ["read"] }`, "policy", "write", "dt-prod", "-")
	srv.CLI(t, `path "dt/token/other" { capabilities = ["read"] }`, "policy", "write", "dt-other", "-")
	env := withoutEnv(gitEnv(t, idp.TokenURL()), "DT_SERVICE_ACCOUNT_KEY_ID", "DT_SERVICE_ACCOUNT_EMAIL",
		"DT_SERVICE_ACCOUNT_SECRET", "DT_TOKEN_ENDPOINT")
	env = withEnv(env, "VAULT_ADDR="+srv.Addr)
	f := &vaultFleet{srv: srv, idp: idp, env: env}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "HOME="); ok {
			f.home = v
		}
		if strings.HasPrefix(kv, "DT_SERVICE_ACCOUNT_") || strings.HasPrefix(kv, "DBUS_") || strings.HasPrefix(kv, "DT_CREDENTIALS_FILE=") {
			t.Fatalf("the machine's environment holds %s", kv)
		}
	}
	return f
}

// vaultToken creates a Vault token with policies.
func (f *vaultFleet) vaultToken(t *testing.T, policies string) string {
	t.Helper()
	return strings.TrimSpace(f.srv.CLI(t, "", "token", "create", "-field=token", "-policy="+policies))
}

// tokenReads is how many times Vault was asked for path.
func (f *vaultFleet) tokenReads(t *testing.T, path string) int {
	return f.srv.CountAudit(t, "request", path)
}

// TestVaultProfileServesKubectlAndGit: a profile naming a Vault path, on
// a machine holding only a Vault token, serves a real kubectl and a real
// git clone, and caches: ten calls of the helper read Vault once.
func TestVaultProfileServesKubectlAndGit(t *testing.T) {
	kubectl := lookKubectl(t)
	gitBin, _ := lookGit(t)
	f := newVaultFleet(t)
	env := withEnv(f.env, "VAULT_TOKEN="+f.vaultToken(t, "dt-prod"))

	// The API servers accept only tokens the emulator issued.
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.idp.Authorize(r) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"major":"1","minor":"32","gitVersion":"v1.32.0-dt-test","platform":"linux/amd64"}`)
	}))
	defer api.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw})
	gitSrv := newGitServer(t, gitBin, f.idp, bareRepo(t, gitBin, env))
	u, _ := url.Parse(gitSrv.URL)

	r := runBinary(t, env, "", "login", "--profile", "fleet", "--vault-path", "dt/token/prod", "--hosts", u.Host)
	if r.code != 0 {
		t.Fatalf("login: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, `profile "fleet" stored`) {
		t.Errorf("login says %q", r.stderr)
	}
	readsAtLogin := f.tokenReads(t, "dt/token/prod")
	if readsAtLogin != 1 {
		t.Errorf("login read Vault %d times, want 1 (the check)", readsAtLogin)
	}

	calls := 0
	kubeconfig := filepath.Join(f.home, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(kubeconfigYAML(api.URL, ca, "token", "--profile", "fleet")), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		out, errOut, code := runKubectl(t, kubectl, env, kubeconfig)
		if code != 0 || !strings.Contains(out, "v1.32.0-dt-test") {
			t.Fatalf("kubectl run %d: exit %d\nstdout: %s\nstderr: %s", i, code, out, errOut)
		}
		calls++
	}
	for i := range 2 {
		dir := t.TempDir()
		args := append(withHelper("dt --profile fleet"), "clone", "--quiet", gitSrv.URL+"/repo.git", "clone")
		if r := runGitCmd(t, gitBin, dir, env, "", args...); r.code != 0 {
			t.Fatalf("clone %d: exit %d\n%s", i, r.code, r.stderr)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "clone", "README")); err != nil || string(b) != "hello from dt\n" {
			t.Fatalf("clone %d: README %q, %v", i, b, err)
		}
		calls++
	}
	// Without a profile, the path from the environment: the same Vault
	// path and identity, so the same cached token.
	for _, args := range [][]string{{"token", "--profile", "fleet", "-o", "token"}, {"token", "-o", "token"}} {
		for range 2 {
			r := runBinary(t, withEnv(env, "DT_VAULT_PATH=dt/token/prod"), "", args...)
			if r.code != 0 || !f.idp.Valid(strings.TrimSpace(r.stdout)) {
				t.Fatalf("%v: exit %d, a token the emulator does not accept: %s", args, r.code, r.stderr)
			}
			calls++
		}
	}
	if calls < 10 {
		t.Fatalf("only %d calls", calls)
	}
	if n := f.tokenReads(t, "dt/token/prod") - readsAtLogin; n != 1 {
		t.Errorf("%d calls of the helper read Vault %d times, want 1 (then cached)", calls, n)
	}
	if n := f.idp.Requests(); n != 1 {
		t.Errorf("%d DT token requests, want 1 (the engine's, cached there too)", n)
	}
	accepted, _ := gitSrv.seen()
	if len(accepted) != 1 {
		t.Errorf("the git server accepted %d distinct tokens, want 1", len(accepted))
	}

	// status shows the path and "vault", and the cached token.
	r = runBinary(t, env, "", "status")
	if r.code != 0 {
		t.Fatalf("status: exit %d: %s", r.code, r.stderr)
	}
	var line string
	for l := range strings.Lines(r.stdout) {
		if strings.HasPrefix(l, "fleet ") {
			line = l
		}
	}
	for _, want := range []string{"dt/token/prod", "vault:" + f.srv.Addr + "/v1/dt/token/prod", " vault ", "valid until"} {
		if !strings.Contains(line, want) {
			t.Errorf("status line %q lacks %q\n%s", line, want, r.stdout)
		}
	}
	// Nothing on the machine holds the DT secret.
	assertNoFileHolds(t, f.home, testSecret)

	// logout removes the cached token and the profile.
	r = runBinary(t, env, "", "logout", "--profile", "fleet")
	if r.code != 0 {
		t.Fatalf("logout: exit %d: %s", r.code, r.stderr)
	}
	if tokens := cachedTokenFiles(t, filepath.Join(f.home, "cache")); len(tokens) > 0 {
		t.Errorf("logout left cached tokens: %v", tokens)
	}
	r = runBinary(t, env, "", "status")
	if strings.Contains(r.stdout, "fleet") {
		t.Errorf("status after logout still shows the profile:\n%s", r.stdout)
	}
}

// cachedTokenFiles lists the token entries (not lock files) in the file
// cache dir.
func cachedTokenFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "token-") && !strings.HasSuffix(e.Name(), ".lock") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestVaultJWTLogin: a machine with no Vault token but a JWT of its own
// (as a Kubernetes projected service-account token) logs in with Vault's
// JWT auth method and serves tokens.
func TestVaultJWTLogin(t *testing.T) {
	f := newVaultFleet(t)
	const sub = "system:serviceaccount:gateways:collector"
	jwtAuth := f.srv.EnableJWT(t, "fleet", sub, "dt-prod")
	jwtFile := filepath.Join(t.TempDir(), "token")
	jwtAuth.WriteJWT(t, jwtFile, sub)
	env := f.env // no VAULT_TOKEN, no ~/.vault-token

	r := runBinary(t, env, "", "login", "--profile", "fleet", "--vault-path", "dt/token/prod",
		"--vault-role", "fleet", "--vault-jwt-file", jwtFile)
	if r.code != 0 {
		t.Fatalf("login: exit %d: %s", r.code, r.stderr)
	}
	for range 3 {
		r = runBinary(t, env, "", "token", "--profile", "fleet", "-o", "token")
		if r.code != 0 || !f.idp.Valid(strings.TrimSpace(r.stdout)) {
			t.Fatalf("token: exit %d, a token the emulator does not accept: %s", r.code, r.stderr)
		}
	}
	if n := f.srv.CountAudit(t, "request", "auth/jwt/login"); n != 2 {
		t.Errorf("%d JWT logins, want 2 (login's check and the first token call; then cached)", n)
	}

	// A go-plugin host gets the profile's tokens too; a forced refresh
	// makes the plugin process log in and read Vault itself.
	p, stop, err := plugin.Launch(plugin.LaunchConfig{Path: binary, Env: env, Logger: hclog.NewNullLogger(), StartTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, force := range []bool{false, true} {
		tok, err := p.GetToken(ctx, "fleet", force)
		if err != nil || !f.idp.Valid(tok.AccessToken) {
			t.Fatalf("plugin GetToken(fleet, force %v): %v", force, err)
		}
	}
	if n := f.srv.CountAudit(t, "request", "auth/jwt/login"); n != 3 {
		t.Errorf("%d JWT logins after the plugin's forced refresh, want 3", n)
	}
	if b, _ := os.ReadFile(jwtFile); strings.Contains(r.stdout+r.stderr, strings.TrimSpace(string(b))) {
		t.Error("the helper's output shows the JWT")
	}

	// A JWT the role does not accept: exit 1, naming the role.
	other := filepath.Join(t.TempDir(), "other")
	jwtAuth.WriteJWT(t, other, "system:serviceaccount:other:intruder")
	r = runBinary(t, env, "", "token", "--cache", "none", "--vault-path", "dt/token/prod", "--vault-role", "fleet", "--vault-jwt-file", other)
	if r.code != 1 || !strings.Contains(r.stderr, "auth/jwt/login as role fleet") {
		t.Errorf("a JWT of another subject: exit %d: %s", r.code, r.stderr)
	}
}

// TestVaultDenied: a Vault identity without the policy for the path gets
// a clear error and exit 1, and nothing is stored or cached.
func TestVaultDenied(t *testing.T) {
	f := newVaultFleet(t)
	env := withEnv(f.env, "VAULT_TOKEN="+f.vaultToken(t, "dt-other"))
	cacheDir := filepath.Join(f.home, "cache")

	checkDenied := func(t *testing.T, r result) {
		t.Helper()
		if r.code != 1 || !strings.Contains(r.stderr, "permission denied reading dt/token/prod") ||
			strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("exit %d, stderr %q; want 1 and one line saying permission denied reading dt/token/prod", r.code, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("stdout %q", r.stdout)
		}
	}
	r := runBinary(t, env, "", "login", "--profile", "fleet", "--vault-path", "dt/token/prod")
	checkDenied(t, r)
	if !strings.Contains(r.stderr, "nothing was stored") {
		t.Errorf("login's error does not say nothing was stored: %s", r.stderr)
	}
	if b, err := os.ReadFile(profilesPath(t, env)); err == nil && strings.Contains(string(b), "fleet") {
		t.Errorf("a refused login stored the profile:\n%s", b)
	}

	r = runBinary(t, env, "", "login", "--profile", "fleet", "--vault-path", "dt/token/prod", "--no-verify")
	if r.code != 0 {
		t.Fatalf("login --no-verify: exit %d: %s", r.code, r.stderr)
	}
	checkDenied(t, runBinary(t, env, "", "token", "--profile", "fleet"))
	checkDenied(t, runBinary(t, env, "", "token", "--vault-path", "dt/token/prod"))
	checkDenied(t, runBinary(t, withEnv(env, "DT_VAULT_PATH=dt/token/prod"), "", "token"))
	if tokens := cachedTokenFiles(t, cacheDir); len(tokens) > 0 {
		t.Errorf("a refused read cached something: %v", tokens)
	}
	r = runBinary(t, env, "", "status")
	if !strings.Contains(r.stdout, "fleet") || !regexpLine(r.stdout, "fleet", "none") {
		t.Errorf("status does not show the profile with no cached token:\n%s", r.stdout)
	}
	if n := f.idp.Requests(); n != 0 {
		t.Errorf("%d DT token requests for refused reads", n)
	}

	// No Vault token at all is a configuration error: exit 2.
	r = runBinary(t, withoutEnv(env, "VAULT_TOKEN"), "", "token", "--profile", "fleet")
	if r.code != 2 || !strings.Contains(r.stderr, "no Vault token") {
		t.Errorf("no Vault token: exit %d: %s", r.code, r.stderr)
	}
	// A Vault path and a DT account together are a usage error.
	r = runBinary(t, env, "", "token", "--vault-path", "dt/token/prod", "--key-id", "k")
	if r.code != 2 || !strings.Contains(r.stderr, "not both") {
		t.Errorf("--vault-path with --key-id: exit %d: %s", r.code, r.stderr)
	}
}

// regexpLine reports whether out has a line starting with prefix and
// ending with suffix.
func regexpLine(out, prefix, suffix string) bool {
	for l := range strings.Lines(out) {
		// The KEY AGE column, last, is "-" for an account status cannot
		// date: suffix is what comes before it.
		l = strings.TrimSuffix(strings.TrimSpace(l), " -")
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, prefix+" ") && strings.HasSuffix(l, suffix) {
			return true
		}
	}
	return false
}

// TestVaultUnavailable: Vault sealed or unreachable is a transient
// failure: a cached token that has not expired is served with a warning,
// and without one the call fails with exit 1 naming the path.
func TestVaultUnavailable(t *testing.T) {
	f := newVaultFleet(t)
	var sealed atomic.Bool
	target, err := url.Parse(f.srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	// In front of OpenBao, answering as a sealed Vault does when told to.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sealed.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"errors":["Vault is sealed"]}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	// No retries by the Vault client: the outcome, not its backoff, is
	// under test.
	env := withEnv(f.env, "VAULT_ADDR="+proxy.URL, "VAULT_MAX_RETRIES=0", "VAULT_TOKEN="+f.vaultToken(t, "dt-prod"))
	if r := runBinary(t, env, "", "login", "--profile", "fleet", "--vault-path", "dt/token/prod"); r.code != 0 {
		t.Fatalf("login: exit %d: %s", r.code, r.stderr)
	}
	r := runBinary(t, env, "", "token", "--profile", "fleet", "-o", "token")
	if r.code != 0 || !f.idp.Valid(strings.TrimSpace(r.stdout)) {
		t.Fatalf("token: exit %d: %s", r.code, r.stderr)
	}
	cached := r.stdout

	served := func(t *testing.T, what string) {
		t.Helper()
		r := runBinary(t, env, "", "token", "--profile", "fleet", "--force-refresh", "-o", "token")
		if r.code != 0 || r.stdout != cached {
			t.Fatalf("%s: exit %d, not the cached token: %s", what, r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "warning") || !strings.Contains(r.stderr, "dt/token/prod") {
			t.Errorf("%s: no warning naming the path: %q", what, r.stderr)
		}
		r = runBinary(t, env, "", "token", "--profile", "fleet", "--cache", "none")
		if r.code != 1 || !strings.Contains(r.stderr, "vault: reading dt/token/prod at "+proxy.URL) {
			t.Errorf("%s, nothing cached: exit %d: %s", what, r.code, r.stderr)
		}
	}
	sealed.Store(true)
	served(t, "sealed")
	proxy.Close()
	served(t, "unreachable")
}

// TestVaultExecKeepsVaultToken: exec with a Vault profile hands the command
// a DT token, not the Vault token that mints them.
func TestVaultExecKeepsVaultToken(t *testing.T) {
	f := newVaultFleet(t)
	env := withEnv(f.env, "VAULT_TOKEN="+f.vaultToken(t, "dt-prod"))
	if r := runBinary(t, env, "", "login", "--profile", "fleet", "--vault-path", "dt/token/prod"); r.code != 0 {
		t.Fatalf("login: exit %d: %s", r.code, r.stderr)
	}
	r := runBinary(t, env, "", "exec", "--profile", "fleet", "--", "sh", "-c", `echo "VT=${VAULT_TOKEN-unset} AT=${DT_ACCESS_TOKEN:+set}"`)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "VT=unset AT=set" {
		t.Fatalf("exec: exit %d, stdout %q, stderr %q; want the DT token and no VAULT_TOKEN", r.code, r.stdout, r.stderr)
	}
}

// TestVaultAgentUnixSocket: a Vault agent's unix listener (OpenBao's own
// listener "unix" here) serves the helper, its child and the plugin's
// program through VAULT_AGENT_ADDR=unix://…, over a VAULT_ADDR that points
// elsewhere; a socket in a directory others can write is refused, and
// nothing is read.
func TestVaultAgentUnixSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	f := newVaultFleetWith(t, baotest.Options{Unix: sock})
	env := withEnv(f.env, "VAULT_ADDR=https://vault.invalid:8200", "VAULT_AGENT_ADDR=unix://"+sock,
		"VAULT_TOKEN="+f.vaultToken(t, "dt-prod"))
	r := runBinary(t, env, "", "login", "--profile", "fleet", "--vault-path", "dt/token/prod")
	if r.code != 0 {
		t.Fatalf("login: exit %d: %s", r.code, r.stderr)
	}
	for range 2 {
		r := runBinary(t, env, "", "token", "--profile", "fleet", "-o", "token")
		if r.code != 0 || !f.idp.Valid(strings.TrimSpace(r.stdout)) {
			t.Fatalf("token: exit %d, a token the emulator does not accept: %s", r.code, r.stderr)
		}
	}
	if n := f.tokenReads(t, "dt/token/prod"); n != 2 {
		t.Errorf("%d reads through the socket for login and 2 calls, want 2 (login's check, then cached)", n)
	}
	r = runBinary(t, env, "", "status")
	if !strings.Contains(r.stdout, "vault:unix://"+sock+"/v1/dt/token/prod") {
		t.Errorf("status does not name the socket:\n%s", r.stdout)
	}

	// The plugin's program reads in process, through the socket too.
	p, stop, err := plugin.Launch(plugin.LaunchConfig{Path: binary, Env: withEnv(env, "DT_VAULT_PATH=dt/token/prod"),
		Logger: hclog.NewNullLogger(), StartTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if tok, err := p.GetToken(ctx, "", true); err != nil || !f.idp.Valid(tok.AccessToken) {
		t.Fatalf("plugin GetToken, forced: %v", err)
	}
	if n := f.tokenReads(t, "dt/token/prod"); n != 3 {
		t.Errorf("%d reads through the socket after the plugin's forced refresh, want 3", n)
	}

	// Whoever can write the socket's directory can put another socket in
	// its place.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	r = runBinary(t, env, "", "token", "--profile", "fleet", "--cache", "none")
	if r.code != 2 || r.stdout != "" {
		t.Errorf("exit %d, stdout %q; want exit 2 and nothing printed", r.code, r.stdout)
	}
	oneStderrLine(t, r.stderr, sock, "writable by group or others")
	if n := f.tokenReads(t, "dt/token/prod"); n != 3 {
		t.Errorf("%d reads, want still 3", n)
	}
}
