package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// Process-level tests of the kernel keyring tier of the auto mode: the real
// kernel keyring of the user running the tests, with keys no other test
// uses, removed afterwards.

// needKernelKeyring skips where keyctl is refused; the fallback there is
// tested by the tests that run the binary under keyringtest.DenyKeyctlEnv.
func needKernelKeyring(t *testing.T) {
	t.Helper()
	_, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "user", keyring.KernelDescription("token-probe-absent"), 0)
	if err != nil && !errors.Is(err, unix.ENOKEY) {
		testutil.SkipOutsideCI(t, fmt.Sprintf("the kernel keyring is refused here (keyctl: %v); TestCacheNoDBusSession covers the fallback", err))
	}
}

// kernelStoreOrSkip is the kernel keyring's store, skipping t where keyctl
// is refused (and, elsewhere, where there is none).
func kernelStoreOrSkip(t *testing.T) keyring.Store {
	t.Helper()
	needKernelKeyring(t)
	return keyring.NewKernelStore()
}

// kernelEntry reads key's entry from the kernel keyring; ok is false when
// there is none.
func kernelEntry(t *testing.T, key string) (keyring.Entry, bool) {
	t.Helper()
	data, err := keyring.NewKernelStore().Get(key)
	if errors.Is(err, keyring.ErrNotFound) {
		return keyring.Entry{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	e, err := keyring.DecodeEntry(data)
	if err != nil {
		t.Fatalf("kernel keyring entry: %v", err)
	}
	return e, true
}

// TestCacheKernelKeyring: under auto, with no Secret Service, tokens go to
// the kernel keyring: a second process is served from it, status names it,
// --force-refresh replaces the entry, and git erase with the cached token
// and docker erase remove it. Nothing is written to the file cache.
func TestCacheKernelKeyring(t *testing.T) {
	needKernelKeyring(t)
	keyID := uniqueName("kernel-")
	srv := authtest.NewServer(authtest.Account{KeyID: keyID, Email: testAccount.Email, Secret: testSecret})
	defer srv.Close()
	key := keyring.Key(srv.TokenURL(), keyID, testAccount.Email)
	t.Cleanup(func() { keyring.NewKernelStore().Delete(key) })
	env := withoutEnv(withEnv(baseEnv(t, srv.TokenURL()), "DT_SERVICE_ACCOUNT_KEY_ID="+keyID, "XDG_RUNTIME_DIR="+t.TempDir()),
		"DT_TOKEN_CACHE", "DBUS_SESSION_BUS_ADDRESS")
	files := keyring.NewFileStore(envValue(env, "DT_CACHE_DIR"))

	token := func(args ...string) string {
		t.Helper()
		r := runFor(t, runLimit, env, "", append([]string{"token", "-o", "token"}, args...)...)
		tok := strings.TrimSuffix(r.stdout, "\n")
		if r.code != 0 || r.stderr != "" || !srv.Valid(tok) {
			t.Fatalf("token %v: exit %d, stderr %q; want a valid token", args, r.code, r.stderr)
		}
		return tok
	}
	first := token()
	if again := token(); again != first {
		t.Error("the second call printed another token")
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("%d token requests for two calls, want 1", n)
	}
	if e, ok := kernelEntry(t, key); !ok || e.AccessToken != first {
		t.Fatalf("the kernel keyring does not hold the token (found: %v)", ok)
	}
	if _, err := files.Get(key); !errors.Is(err, keyring.ErrNotFound) {
		t.Errorf("the file cache holds an entry too: %v", err)
	}

	r := runFor(t, runLimit, env, "", "status")
	if r.code != 0 || !strings.Contains(r.stdout, "Token cache: kernel\n") {
		t.Errorf("status: exit %d, does not name the kernel keyring:\n%s", r.code, r.stdout)
	}
	r = runFor(t, runLimit, env, "", "status", "--cache", "kernel")
	if r.code != 0 || !strings.Contains(r.stdout, "Token cache: kernel\n") {
		t.Errorf("status --cache kernel: exit %d:\n%s", r.code, r.stdout)
	}

	forced := token("--force-refresh")
	if forced == first {
		t.Fatal("--force-refresh printed the cached token")
	}
	if e, ok := kernelEntry(t, key); !ok || e.AccessToken != forced {
		t.Fatalf("after --force-refresh the kernel keyring does not hold the new token (found: %v)", ok)
	}

	// git erases a token the server refused; another token is left alone.
	erase := func(tok string) {
		t.Helper()
		in := fmt.Sprintf("protocol=https\nhost=api.disruptive-technologies.com\nusername=oauth2accesstoken\npassword=%s\n\n", tok)
		if r := runFor(t, runLimit, env, in, "git", "erase"); r.code != 0 || r.stdout != "" {
			t.Fatalf("git erase: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	}
	erase(first)
	if _, ok := kernelEntry(t, key); !ok {
		t.Fatal("git erase with an older token removed the current one")
	}
	erase(forced)
	if _, ok := kernelEntry(t, key); ok {
		t.Fatal("git erase with the cached token left it in the kernel keyring")
	}
	before := srv.Requests()
	if tok := token(); tok == forced {
		t.Error("after erase the erased token was served")
	}
	if n := srv.Requests() - before; n != 1 {
		t.Errorf("%d token requests after erase, want 1", n)
	}

	// docker erase drops the host's cached token.
	if _, ok := kernelEntry(t, key); !ok {
		t.Fatal("no kernel keyring entry before docker erase")
	}
	if r := runFor(t, runLimit, env, "https://api.disruptive-technologies.com\n", "docker", "erase"); r.code != 0 {
		t.Fatalf("docker erase: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if _, ok := kernelEntry(t, key); ok {
		t.Fatal("docker erase left the token in the kernel keyring")
	}
}

// TestLogoutRemovesKernelToken: a profile's secret lives in the Secret
// Service, its tokens in the kernel keyring; logout removes both.
func TestLogoutRemovesKernelToken(t *testing.T) {
	needKeyringSession(t)
	needKernelKeyring(t)
	f := newLoginFixture(t)
	t.Cleanup(func() { keyring.NewKernelStore().Delete(f.key) })
	env := withEnv(f.env, "DT_TOKEN_CACHE=auto")
	if r := runFor(t, runLimit, env, testSecret+"\n", f.loginArgs(f.profile)...); r.code != 0 {
		t.Fatalf("login: exit %d, stderr %q", r.code, r.stderr)
	}
	r := runFor(t, runLimit, env, "", "token", "--profile", f.profile, "-o", "token")
	tok := strings.TrimSuffix(r.stdout, "\n")
	if r.code != 0 || !f.srv.Valid(tok) {
		t.Fatalf("token: exit %d, stderr %q", r.code, r.stderr)
	}
	if e, ok := kernelEntry(t, f.key); !ok || e.AccessToken != tok {
		t.Fatalf("the kernel keyring does not hold the token (found: %v)", ok)
	}
	if _, ok := secretToolLookup(t, f.key); ok {
		t.Error("the token is in the Secret Service too")
	}
	r = runFor(t, runLimit, env, "", "status")
	if !strings.Contains(r.stdout, "Token cache: kernel\n") {
		t.Errorf("status does not name the kernel keyring:\n%s", r.stdout)
	}

	if r := runFor(t, runLimit, env, "", "logout", "--profile", f.profile); r.code != 0 {
		t.Fatalf("logout: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, ok := kernelEntry(t, f.key); ok {
		t.Error("the token is still in the kernel keyring after logout")
	}
	if _, ok := secretToolLookup(t, f.key); ok {
		t.Error("the token is in the Secret Service after logout")
	}
}

// forgetKernelToken removes key's token from the kernel keyring, which
// outlives the test, so that no test leaves one behind.
func forgetKernelToken(key string) { keyring.NewKernelStore().Delete(key) }
