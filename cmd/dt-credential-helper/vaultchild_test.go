//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
	"github.com/dt-credential-helper/dt-credential-helper/plugin"
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

// TestVaultChildCredentialOnlyWhereAllowed: the plain-http rule holds for
// the address and the proxy Vault's client really uses: an agent address
// or a proxy that is plain http off this machine gets no Vault token, and
// the helper says which variable is wrong (exit 2).
func TestVaultChildCredentialOnlyWhereAllowed(t *testing.T) {
	trap, received := testutil.Recorder(t, testutil.OutsideIP(t))
	srv, reads := fakeVault(t, "tok")
	for name, extra := range map[string][]string{
		"VAULT_AGENT_ADDR": {"VAULT_ADDR=https://vault.invalid:8200", "VAULT_AGENT_ADDR=http://" + trap},
		"VAULT_PROXY_ADDR": {"VAULT_PROXY_ADDR=http://" + trap},
		"VAULT_HTTP_PROXY": {"VAULT_HTTP_PROXY=http://" + trap},
	} {
		t.Run(name, func(t *testing.T) {
			env := withEnv(vaultChildEnv(t, srv.URL), extra...)
			r := runBinary(t, env, "", "token", "--vault-path", "dt/token/prod", "--timeout", "3s")
			if r.code != 2 || r.stdout != "" {
				t.Errorf("exit %d, stdout %q; want exit 2 and nothing printed", r.code, r.stdout)
			}
			oneStderrLine(t, r.stderr, name, "clear text")

			// The child itself refuses, and so does the plugin's program
			// serving a host: both read Vault with vaulttoken.
			env = withEnv(env, "DT_VAULT_PATH=dt/token/prod")
			cmd := exec.Command(filepath.Join(binDir, pluginProg), "vault-token")
			cmd.Env = env
			out, err := cmd.Output()
			if err != nil || !strings.Contains(string(out), `"kind":"misconfigured"`) || !strings.Contains(string(out), name) {
				t.Errorf("%s vault-token: %v, reply %s; want misconfigured, naming %s", pluginProg, err, out, name)
			}
			p, stop, err := plugin.Launch(plugin.LaunchConfig{Path: binary, Env: env, Logger: hclog.NewNullLogger(), StartTimeout: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := p.GetToken(ctx, "", true); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("the plugin's GetToken: %v, want an error naming %s", err, name)
			}
		})
	}
	if n := received(); n != 0 {
		t.Errorf("%s received %d bytes", trap, n)
	}
	if n := reads.Load(); n != 0 {
		t.Errorf("the Vault got %d requests", n)
	}
}

// TestVaultChildStandardProxyNotForLoopback: the standard HTTP_PROXY is
// not used for a loopback Vault (net/http never proxies a loopback host),
// so the Vault token goes to the Vault directly and the proxy gets nothing.
func TestVaultChildStandardProxyNotForLoopback(t *testing.T) {
	trap, received := testutil.Recorder(t, testutil.OutsideIP(t))
	srv, reads := fakeVault(t, "tok")
	env := withEnv(vaultChildEnv(t, srv.URL), "HTTP_PROXY=http://"+trap, "http_proxy=http://"+trap)
	r := runBinary(t, env, "", "token", "--vault-path", "dt/token/prod", "-o", "token", "--timeout", "5s")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "tok" {
		t.Errorf("exit %d, stdout %q, stderr %q; want the token", r.code, r.stdout, r.stderr)
	}
	if n := received(); n != 0 {
		t.Errorf("the proxy %s received %d bytes", trap, n)
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("%d Vault reads, want 1", n)
	}
}

// TestVaultChildLoopbackSquatter: with the user's Vault agent down,
// another user listening on its loopback port gets nothing, and the helper
// names the port and the listener's uid (exit 2).
func TestVaultChildLoopbackSquatter(t *testing.T) {
	sq := testutil.StartSquatter(t, "tcp", "127.0.0.1")
	env := vaultChildEnv(t, "http://127.0.0.1:"+sq.Port)
	r := runBinary(t, env, "", "token", "--vault-path", "dt/token/prod", "--timeout", "3s")
	if got := sq.Stop(); len(got) != 0 {
		t.Errorf("the listener of uid %d received %v", testutil.Nobody, got)
	}
	if r.code != 2 || r.stdout != "" {
		t.Errorf("exit %d, stdout %q; want exit 2 and nothing printed", r.code, r.stdout)
	}
	oneStderrLine(t, r.stderr, "port "+sq.Port, fmt.Sprintf("uid %d", testutil.Nobody))
}

// TestVaultChildBodyBounded: a hostile Vault answering with an endless
// body costs the vault-token child a bounded amount of memory (its peak
// RSS is measured), and the helper says what happened.
func TestVaultChildBodyBounded(t *testing.T) {
	// Capped, so that a child without a bound fails the test, not the
	// machine.
	const limit = 128 << 20
	var wrote atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte(strings.Repeat("A", 64<<10))
		w.Write([]byte(`{"data":{"access_token":"`))
		for wrote.Load() < limit {
			n, err := w.Write(chunk)
			wrote.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	env := vaultChildEnv(t, srv.URL)

	// The child's peak RSS, as its parent's wait4 reports it (ru_maxrss).
	// Not from this process: Go starts a child with vfork, and the kernel
	// counts the parent's memory at the exec into the child's peak. A small
	// python3 launcher stands in for the helper; its own peak, which the
	// child's includes the same way, is reported next to it.
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Skip("no python3 to measure the child's peak memory with")
	}
	const launcher = `
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
sys.stdout.buffer.write(r.stdout)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
`
	cmd := exec.Command(python, "-c", launcher, filepath.Join(binDir, pluginProg), "vault-token")
	cmd.Env = withEnv(env, "DT_VAULT_PATH=dt/token/prod")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s vault-token: %v\n%s", pluginProg, err, stderr.String())
	}
	var self, peak int64 // KiB
	if _, err := fmt.Sscan(stderr.String(), &self, &peak); err != nil {
		t.Fatalf("the launcher said %q", stderr.String())
	}
	t.Logf("peak RSS of the vault-token child: %d KiB (its launcher's own: %d KiB); the server wrote %d bytes", peak, self, wrote.Load())
	if peak > 64<<10 {
		t.Errorf("the child's peak RSS is %d KiB", peak)
	}
	if !strings.Contains(stdout.String(), "larger than 1 MiB") || strings.Contains(stdout.String(), "AAAA") {
		t.Errorf("the reply %q does not say the response was too large (or quotes it)", stdout.String())
	}

	r := runBinary(t, env, "", "token", "--vault-path", "dt/token/prod", "--timeout", "10s")
	if r.code != 1 || r.stdout != "" {
		t.Errorf("exit %d, stdout %q; want exit 1 and nothing printed", r.code, r.stdout)
	}
	oneStderrLine(t, r.stderr, "dt/token/prod", "larger than 1 MiB")
}
