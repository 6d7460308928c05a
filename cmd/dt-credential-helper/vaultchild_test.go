//go:build linux

package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The helper reads Vault through dt-credential-helper-plugin run as a
// child (package vaultproc). These tests need no OpenBao: a fake Vault
// answers the child, or nothing is asked at all.

// fakeVault answers every token read with access_token, and counts reads
// (of the token path: a read is followed by the Vault token's lookup-self,
// answered alike, which says it lives an hour).
func fakeVault(t *testing.T, access string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var reads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/dt/token/") {
			reads.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"data":{"access_token":%q,"token_type":"Bearer","expires_at":%q,"ttl":3600}}`,
			access, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	}))
	t.Cleanup(srv.Close)
	return srv, &reads
}

func vaultChildEnv(t *testing.T, addr string) []string {
	home := t.TempDir()
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"DT_CACHE_DIR=" + filepath.Join(home, "cache"),
		"DT_TOKEN_CACHE=file",
		"VAULT_ADDR=" + addr,
		"VAULT_TOKEN=vault-token-not-a-secret-here",
		"VAULT_MAX_RETRIES=0",
	}
}

// TestVaultChildServesAndCaches: the helper's Vault read runs in the
// sibling program, and its token is cached like any other: three calls,
// one read.
func TestVaultChildServesAndCaches(t *testing.T) {
	const good = "Vault.Token-0K_~+/=="
	srv, reads := fakeVault(t, good)
	env := vaultChildEnv(t, srv.URL)
	for i := range 3 {
		r := runBinary(t, env, "", "token", "--vault-path", "dt/token/prod", "-o", "token")
		if r.code != 0 || strings.TrimSpace(r.stdout) != good {
			t.Fatalf("call %d: exit %d, stdout %q, stderr %q", i, r.code, r.stdout, r.stderr)
		}
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("%d Vault reads for 3 calls, want 1", n)
	}
}

// TestVaultChildRefusesBadToken: a token that could inject into a header
// or a git or docker reply is refused by the child, with an error that
// does not quote it, and nothing is printed or cached.
func TestVaultChildRefusesBadToken(t *testing.T) {
	const bad = "bad token\npassword=leaked-secret-Q9z"
	srv, reads := fakeVault(t, bad)
	env := vaultChildEnv(t, srv.URL)
	for i := range 2 {
		r := runBinary(t, env, "", "token", "--vault-path", "dt/token/prod", "-o", "token")
		if r.code != 1 || r.stdout != "" {
			t.Fatalf("call %d: exit %d, stdout %q; want exit 1 and nothing printed", i, r.code, r.stdout)
		}
		oneStderrLine(t, r.stderr, "dt/token/prod", "refused", "b64token")
		if strings.Contains(r.stderr, "leaked-secret") || strings.Contains(r.stderr, "bad token") {
			t.Errorf("stderr quotes the token: %q", r.stderr)
		}
	}
	if n := reads.Load(); n != 2 {
		t.Errorf("%d Vault reads for 2 calls, want 2 (nothing cached)", n)
	}
	// Under --verbose the child's log shows, and still not the token.
	r := runBinary(t, env, "", "token", "--vault-path", "dt/token/prod", "--verbose")
	if r.code != 1 || !strings.Contains(r.stderr, "reading the token from vault") || strings.Contains(r.stderr, "leaked-secret") {
		t.Errorf("--verbose: exit %d, stderr %q: want the child's steps, never the token", r.code, r.stderr)
	}
}

// TestVaultChildUntrusted: the child is handed the machine's Vault
// identity, so the Vault read refuses a sibling others could have written
// or swapped, as the plugin's hand-over does, without running it; a
// missing one is named.
func TestVaultChildUntrusted(t *testing.T) {
	srv, reads := fakeVault(t, "tok")
	env := vaultChildEnv(t, srv.URL)
	t.Run("group-writable", func(t *testing.T) {
		dir := installTo(t, true)
		chmod(t, filepath.Join(dir, pluginProg), 0o775)
		r := runPathFor(t, filepath.Join(dir, prog), runLimit, env, "", "token", "--vault-path", "dt/token/prod")
		if r.code != 1 || r.stdout != "" {
			t.Errorf("exit %d, stdout %q; want exit 1, no stdout", r.code, r.stdout)
		}
		oneStderrLine(t, r.stderr, "refusing to run "+filepath.Join(dir, pluginProg), "writable by group or others")
	})
	t.Run("owned by nobody", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("giving a file to another user needs root")
		}
		dir := installTo(t, true)
		if err := os.Chown(filepath.Join(dir, pluginProg), nobody, nobody); err != nil {
			t.Fatal(err)
		}
		r := runPathFor(t, filepath.Join(dir, prog), runLimit, env, "", "login", "--profile", "fleet", "--vault-path", "dt/token/prod")
		if r.code != 1 {
			t.Errorf("login: exit %d; want 1", r.code)
		}
		oneStderrLine(t, r.stderr, "nothing was stored", "refusing to run "+filepath.Join(dir, pluginProg), "owned by uid 65534")
	})
	t.Run("missing", func(t *testing.T) {
		dir := installTo(t, false)
		r := runPathFor(t, filepath.Join(dir, prog), runLimit, env, "", "token", "--vault-path", "dt/token/prod")
		if r.code != 1 {
			t.Errorf("exit %d; want 1", r.code)
		}
		oneStderrLine(t, r.stderr, "reading tokens from Vault needs "+pluginProg, "not there")
	})
	if n := reads.Load(); n != 0 {
		t.Errorf("%d Vault reads, want 0", n)
	}
}
