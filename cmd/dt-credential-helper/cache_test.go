package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/keyring/keyringtest"
)

// Process-level tests of the token cache: the built binary against the real
// gnome-keyring (inside scripts/keyring-session.sh), a missing D-Bus session
// and a hung Secret Service. The DT identity service cannot run here: the
// in-process emulator (auth/authtest) stands in for it.

// runLimit bounds every run of the binary in these tests.
const runLimit = 30 * time.Second

// needKeyringSession skips unless scripts/keyring-session.sh runs the tests
// inside a private D-Bus session with an unlocked gnome-keyring.
func needKeyringSession(t *testing.T) {
	t.Helper()
	if os.Getenv("DT_TEST_SECRET_SERVICE") != "1" {
		t.Skip("no Secret Service session: run under scripts/keyring-session.sh")
	}
	if _, err := exec.LookPath("secret-tool"); err != nil {
		t.Fatal("secret-tool not installed, but DT_TEST_SECRET_SERVICE=1 (scripts/keyring-session.sh installs it)")
	}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		t.Fatal("DT_TEST_SECRET_SERVICE=1 without DBUS_SESSION_BUS_ADDRESS")
	}
	if err := keyringUsable(); err != nil {
		t.Fatalf("DT_TEST_SECRET_SERVICE=1, but the keyring is unusable: %v", err)
	}
}

// keyringUsable writes, reads and deletes an entry of its own in the
// keyring, once per test binary: a session whose keyring is locked or gone
// must fail the keyring tests, not let them pass on some fallback.
var keyringUsable = sync.OnceValue(func() error {
	s := keyring.NewOSStore(10 * time.Second)
	key, want := uniqueName("test-probe-"), uniqueName("value-")
	if err := s.Set(key, []byte(want)); err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	defer s.Delete(key)
	got, err := s.Get(key)
	if err != nil {
		return fmt.Errorf("reading back: %w", err)
	}
	if string(got) != want {
		return errors.New("reading back: another value")
	}
	if err := s.Delete(key); err != nil {
		return fmt.Errorf("deleting: %w", err)
	}
	return nil
})

// uniqueName returns prefix and random hex: keyring entries are shared by
// every test of the session, so each test uses its own key id or profile.
func uniqueName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// cacheFixture is an emulator with one account of its own and the
// environment of a binary that caches its tokens in the real keyring.
type cacheFixture struct {
	srv   *authtest.Server
	env   []string
	keyID string
	key   string // the cache entry's key: keyring.Key(endpoint, key id, email)
	dir   string // DT_CACHE_DIR
}

func newCacheFixture(t *testing.T) *cacheFixture {
	t.Helper()
	keyID := uniqueName("cache-")
	srv := authtest.NewServer(authtest.Account{KeyID: keyID, Email: testAccount.Email, Secret: testSecret})
	t.Cleanup(srv.Close)
	env := withEnv(baseEnv(t, srv.TokenURL()),
		"DT_SERVICE_ACCOUNT_KEY_ID="+keyID,
		"DT_TOKEN_CACHE=keyring",
		"DBUS_SESSION_BUS_ADDRESS="+os.Getenv("DBUS_SESSION_BUS_ADDRESS"))
	f := &cacheFixture{srv: srv, env: env, keyID: keyID, key: keyring.Key(srv.TokenURL(), keyID, testAccount.Email), dir: envValue(env, "DT_CACHE_DIR")}
	t.Cleanup(func() { secretToolClear(f.key) })
	return f
}

// token runs `token -o token` and returns the token it printed, failing the
// test unless it exits 0 with a valid token and a quiet stderr.
func (f *cacheFixture) token(t *testing.T, args ...string) string {
	t.Helper()
	r := runFor(t, runLimit, f.env, "", append([]string{"token", "-o", "token"}, args...)...)
	tok := strings.TrimSuffix(r.stdout, "\n")
	if r.code != 0 || r.stderr != "" || !f.srv.Valid(tok) {
		t.Fatalf("token %v: exit %d, stdout %q, stderr %q; want a valid token", args, r.code, r.stdout, r.stderr)
	}
	return tok
}

// entry reads and decodes the fixture's keyring entry with secret-tool.
func (f *cacheFixture) entry(t *testing.T) keyring.Entry {
	t.Helper()
	data, ok := secretToolLookup(t, f.key)
	if !ok {
		t.Fatalf("no keyring entry %s", f.key)
	}
	e, err := keyring.DecodeEntry([]byte(data))
	if err != nil {
		t.Fatalf("keyring entry %s: %v", f.key, err)
	}
	return e
}

func (f *cacheFixture) wantRequests(t *testing.T, want int, when string) {
	t.Helper()
	if n := f.srv.Requests(); n != want {
		t.Errorf("%s: %d token requests, want %d", when, n, want)
	}
}

func envValue(env []string, name string) string {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, name+"="); ok {
			return v
		}
	}
	return ""
}

// execBounded runs the binary, killing it after limit. It never calls t, so
// goroutines may use it.
func execBounded(env []string, stdin string, limit time.Duration, args ...string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	if slices.Contains(env, keyringtest.DenyKeyctlEnv) {
		// As in a container whose seccomp profile blocks the kernel
		// keyring.
		if err := keyringtest.DenyKeyctl(cmd); err != nil {
			return result{}, err
		}
	}
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ctx.Err() != nil {
		return r, fmt.Errorf("%v did not finish within %v (stderr %q)", args, limit, r.stderr)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		return r, fmt.Errorf("running %s: %w", binary, err)
	}
	return r, nil
}

// runFor is runBinary bounded in time.
func runFor(t *testing.T, limit time.Duration, env []string, stdin string, args ...string) result {
	t.Helper()
	r, err := execBounded(env, stdin, limit, args...)
	if err != nil {
		t.Fatal(err)
	}
	checkNoLeak(t, r)
	return r
}

// secretTool runs secret-tool with the test's own D-Bus session, bounded.
func secretTool(stdin string, args ...string) (stdout string, code int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "secret-tool", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ctx.Err() == nil {
		return out.String(), ee.ExitCode(), nil
	}
	if err != nil {
		return "", -1, fmt.Errorf("secret-tool %v: %v: %s", args, err, errb.String())
	}
	return out.String(), 0, nil
}

// secretToolLookup reads the entry go-keyring stores for key (attributes
// "service" and "username", as in keyring/secretservice_linux.go).
func secretToolLookup(t *testing.T, key string) (string, bool) {
	t.Helper()
	out, code, err := secretTool("", "lookup", "service", keyring.Service, "username", key)
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		if out != "" {
			t.Fatalf("secret-tool lookup exited %d with output", code)
		}
		return "", false
	}
	return out, true
}

// secretToolItems counts the items with key's attributes; more than one would
// let a stale item shadow a fresh one.
func secretToolItems(t *testing.T, key string) int {
	t.Helper()
	out, _, err := secretTool("", "search", "--all", "service", keyring.Service, "username", key)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, "[/") {
			n++
		}
	}
	return n
}

func secretToolStore(t *testing.T, key, value string) {
	t.Helper()
	out, code, err := secretTool(value, "store", "--label=corrupt", "service", keyring.Service, "username", key)
	if err != nil || code != 0 {
		t.Fatalf("secret-tool store: exit %d, %v: %s", code, err, out)
	}
}

func secretToolClear(key string) {
	secretTool("", "clear", "service", keyring.Service, "username", key)
}

// oneStderrLine fails t unless stderr is one "dt-credential-helper: ..." line
// containing every one of contains.
func oneStderrLine(t *testing.T, stderr string, contains ...string) {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") || !strings.HasPrefix(stderr, prog+": ") {
		t.Errorf("stderr is not one %q line: %q", prog+": ...", stderr)
	}
	for _, c := range contains {
		if !strings.Contains(stderr, c) {
			t.Errorf("stderr %q does not mention %q", stderr, c)
		}
	}
}

func TestCacheKeyringSequential(t *testing.T) {
	needKeyringSession(t)
	f := newCacheFixture(t)
	first := f.token(t)
	for i := 1; i < 10; i++ {
		if tok := f.token(t); tok != first {
			t.Fatalf("call %d printed another token than the first", i+1)
		}
	}
	f.wantRequests(t, 1, "10 sequential calls")
	if e := f.entry(t); e.AccessToken != first || e.KeyID != f.keyID {
		t.Errorf("keyring entry holds another token or key id %q", e.KeyID)
	}
	// Under --cache keyring the token is in the keyring only.
	if _, err := keyring.NewFileStore(f.dir).Get(f.key); !errors.Is(err, keyring.ErrNotFound) {
		t.Errorf("file store under --cache keyring: %v, want no entry", err)
	}
}

func TestCacheKeyringConcurrentColdCalls(t *testing.T) {
	needKeyringSession(t)
	f := newCacheFixture(t)
	// A slow endpoint, so that every process starts while the first one is
	// still refreshing.
	f.srv.InjectAlways(authtest.Fault{Delay: 300 * time.Millisecond})
	const n = 32
	tokens := concurrentTokens(t, f.env, n)
	f.wantRequests(t, 1, fmt.Sprintf("%d concurrent cold calls", n))
	for i, tok := range tokens {
		if !f.srv.Valid(tok) || tok != tokens[0] {
			t.Errorf("process %d printed %q; want the one valid token all print", i, tok)
		}
	}
	if e := f.entry(t); e.AccessToken != tokens[0] {
		t.Errorf("the keyring holds another token than the one printed")
	}
}

func TestCacheRefreshBuffer(t *testing.T) {
	needKeyringSession(t)
	f := newCacheFixture(t)
	f.srv.SetTokenTTL(90 * time.Second)
	// A buffer longer than the token's life is cut to half of it (45s), so
	// the token is cached all the same; --verbose says so.
	first := f.token(t, "--refresh-buffer", "100s")
	for i := 2; i <= 3; i++ {
		if tok := f.token(t, "--refresh-buffer", "100s"); tok != first {
			t.Errorf("call %d with --refresh-buffer 100s did not serve the cached token", i)
		}
	}
	f.wantRequests(t, 1, "3 calls with --refresh-buffer 100s and 90s tokens")
	r := runFor(t, runLimit, f.env, "", "token", "-o", "token", "--refresh-buffer", "100s", "--verbose")
	if r.code != 0 || !strings.Contains(r.stderr, "refresh buffer clamped to half the token's lifetime") || strings.Contains(r.stderr, first) {
		t.Errorf("--verbose: exit %d, stderr %q; want a line saying the buffer was clamped, without the token", r.code, r.stderr)
	}

	// The buffer still decides: a token obtained 60s ago with 30s left, as
	// the keyring holds it, is refreshed under the default buffer (60s, cut
	// to 45s) and served under a 20s one. The binary's clock cannot be
	// moved, so the entry is written as it would have been a minute ago.
	now := time.Now()
	acct := keyring.Account{Endpoint: f.srv.TokenURL(), KeyID: f.keyID, Email: testAccount.Email, Identity: keyring.NewIdentity(f.key, testSecret)}
	aged := keyring.NewEntry(&oauth2.Token{AccessToken: first, TokenType: "Bearer", Expiry: now.Add(30 * time.Second)}, acct, now.Add(-60*time.Second))
	if err := keyring.NewOSStore(10*time.Second).Set(f.key, aged.Encode()); err != nil {
		t.Fatal(err)
	}
	if tok := f.token(t, "--refresh-buffer", "20s"); tok != first {
		t.Errorf("30s left, --refresh-buffer 20s: did not serve the cached token")
	}
	f.wantRequests(t, 1, "30s left, --refresh-buffer 20s")
	if tok := f.token(t); tok == first {
		t.Errorf("30s left of 90s, default buffer: served the cached token, want a refresh")
	}
	f.wantRequests(t, 2, "30s left of 90s, default buffer")
}

func TestCacheForceRefresh(t *testing.T) {
	needKeyringSession(t)
	f := newCacheFixture(t)
	old := f.token(t)
	forced := f.token(t, "--force-refresh")
	if forced == old {
		t.Fatal("--force-refresh printed the cached token")
	}
	f.wantRequests(t, 2, "--force-refresh")
	if e := f.entry(t); e.AccessToken != forced {
		t.Error("the keyring does not hold the forced token")
	}
	if tok := f.token(t); tok != forced {
		t.Error("the call after --force-refresh did not serve the new token")
	}
	f.wantRequests(t, 2, "the call after --force-refresh")
}

// TestCacheCorruptKeyringEntry overwrites the cached entry as another program
// could, with secret-tool: the next call refreshes once and writes a good
// entry over it.
func TestCacheCorruptKeyringEntry(t *testing.T) {
	needKeyringSession(t)
	f := newCacheFixture(t)
	f.token(t)
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, garbage := range []string{
		"garbage{",
		`{"v":1,"access_tok`,
		`{"v":99,"access_token":"x","token_type":"Bearer","expiry":"` + later + `"}`,
		`{"v":1,"token_type":"Bearer","expiry":"` + later + `"}`,
		"\x00\xff\xfe binary",
	} {
		t.Run(strconv.Quote(garbage), func(t *testing.T) {
			secretToolStore(t, f.key, garbage)
			if got, _ := secretToolLookup(t, f.key); got != garbage {
				t.Fatalf("secret-tool did not overwrite the entry: lookup = %q", got)
			}
			before := f.srv.Requests()
			tok := f.token(t)
			f.wantRequests(t, before+1, "the call after corrupting the entry")
			if e := f.entry(t); e.AccessToken != tok {
				t.Error("the repaired entry holds another token than the one printed")
			}
			if n := secretToolItems(t, f.key); n != 1 {
				t.Errorf("%d keyring items for the key, want 1", n)
			}
			if again := f.token(t); again != tok {
				t.Error("the repaired entry was not served")
			}
			f.wantRequests(t, before+1, "the call after the repair")
		})
	}
}

// noSystemdUserBus skips when the machine has a bus the binary would find
// without DBUS_SESSION_BUS_ADDRESS.
func noSystemdUserBus(t *testing.T) {
	t.Helper()
	if fi, err := os.Stat(filepath.Join("/run/user", strconv.Itoa(os.Getuid()), "bus")); err == nil && fi.Mode()&os.ModeSocket != 0 {
		t.Skip("this machine has a systemd user bus; cannot make the bus disappear")
	}
}

// TestCacheNoDBusSession needs no keyring: it takes the bus away.
func TestCacheNoDBusSession(t *testing.T) {
	noSystemdUserBus(t)
	srv := authtest.NewServer(testAccount)
	defer srv.Close()
	env := withEnv(baseEnv(t, srv.TokenURL()),
		"DT_TOKEN_CACHE=",
		"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent",
		"XDG_RUNTIME_DIR="+t.TempDir(),
		keyringtest.DenyKeyctlEnv) // the kernel keyring refused, as in a container
	dir := envValue(env, "DT_CACHE_DIR")
	key := keyring.Key(srv.TokenURL(), testAccount.KeyID, testAccount.Email)

	var first string
	for i := 1; i <= 2; i++ {
		r := runFor(t, runLimit, env, "", "token", "--cache", "auto", "-o", "token")
		tok := strings.TrimSuffix(r.stdout, "\n")
		if r.code != 0 || r.stderr != "" || !srv.Valid(tok) {
			t.Fatalf("call %d under --cache auto: exit %d, stdout %q, stderr %q", i, r.code, r.stdout, r.stderr)
		}
		if i == 1 {
			first = tok
		} else if tok != first {
			t.Errorf("the second call printed another token")
		}
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("%d token requests for two calls, want 1 (the second from the file cache)", n)
	}
	data, err := keyring.NewFileStore(dir).Get(key)
	if e, derr := keyring.DecodeEntry(data); err != nil || derr != nil || e.AccessToken != first {
		t.Errorf("file cache entry: %v, %v", err, derr)
	}

	r := runFor(t, runLimit, env, "", "status", "--cache", "auto")
	if r.code != 0 {
		t.Fatalf("status: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{"Token cache: file (keyring unavailable", "D-Bus", "valid until"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status does not say %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, first) {
		t.Error("status shows the token")
	}

	// An explicit keyring is an error, said once and before any request.
	srv.ResetRequests()
	r = runFor(t, runLimit, withEnv(env, "DT_CACHE_DIR="+filepath.Join(t.TempDir(), "cache")), "", "token", "--cache", "keyring", "-o", "token")
	if r.code != 1 || r.stdout != "" {
		t.Errorf("--cache keyring without a bus: exit %d, stdout %q; want 1 and nothing", r.code, r.stdout)
	}
	oneStderrLine(t, r.stderr, "keyring")
	if n := srv.Requests(); n != 0 {
		t.Errorf("--cache keyring without a bus made %d token requests, want 0", n)
	}
}

// TestKeyringUnreachable: under auto, with no D-Bus session to reach the
// keyring through, status names the file cache and says why before anything
// was read from the cache, and token --verbose says why on stderr (without
// --verbose stderr stays empty: a machine without a keyring is normal).
func TestKeyringUnreachable(t *testing.T) {
	srv := authtest.NewServer(testAccount)
	defer srv.Close()
	tests := []struct {
		name   string
		bus    []string // DBUS_SESSION_BUS_ADDRESS, or nothing for unset
		reason string   // in the fallback reason
	}{
		{"bus unset", nil, "DBUS_SESSION_BUS_ADDRESS is not set"},
		{"nonexistent socket", []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus"}, "/nonexistent/bus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.bus == nil {
				noSystemdUserBus(t)
			}
			// No bus socket where the binary looks without the variable.
			// The kernel keyring refused too, as in a container.
			env := withoutEnv(withEnv(baseEnv(t, srv.TokenURL()), "XDG_RUNTIME_DIR="+t.TempDir(), keyringtest.DenyKeyctlEnv),
				"DT_TOKEN_CACHE", "DBUS_SESSION_BUS_ADDRESS")
			env = append(env, tt.bus...)
			wantCache := "Token cache: file (keyring unavailable"

			t.Run("status without an account", func(t *testing.T) {
				env := withoutEnv(env, "DT_SERVICE_ACCOUNT_KEY_ID", "DT_SERVICE_ACCOUNT_EMAIL", "DT_SERVICE_ACCOUNT_SECRET", "DT_TOKEN_ENDPOINT")
				r := runFor(t, runLimit, env, "", "status")
				if r.code != 0 || r.stderr != "" {
					t.Fatalf("exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
				}
				var cacheLine string
				for line := range strings.Lines(r.stdout) {
					if strings.HasPrefix(line, "Token cache:") {
						cacheLine = line
					}
				}
				if !strings.HasPrefix(cacheLine, wantCache) || !strings.Contains(cacheLine, tt.reason) {
					t.Errorf("status says %q, want %q... naming %q:\n%s", cacheLine, wantCache, tt.reason, r.stdout)
				}
				if strings.Contains(r.stdout, "(environment)") {
					t.Errorf("status lists an account though none is configured:\n%s", r.stdout)
				}
			})

			t.Run("token --verbose", func(t *testing.T) {
				r := runFor(t, runLimit, env, "", "token", "-o", "token", "--verbose")
				tok := strings.TrimSuffix(r.stdout, "\n")
				if r.code != 0 || !srv.Valid(tok) {
					t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
				}
				// One line says which stores were read, with why the
				// kernel keyring and the Secret Service were not.
				for _, want := range []string{`msg="cache miss" read="file (keyring unavailable: kernel keyring`, "operation not permitted",
					"keyring unavailable", tt.reason, "write=file"} {
					if !strings.Contains(r.stderr, want) {
						t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
					}
				}
				if strings.Contains(r.stderr, tok) {
					t.Error("stderr shows the token")
				}
			})

			t.Run("token", func(t *testing.T) {
				r := runFor(t, runLimit, env, "", "token", "-o", "token")
				if r.code != 0 || r.stderr != "" || !srv.Valid(strings.TrimSuffix(r.stdout, "\n")) {
					t.Errorf("exit %d, stderr %q; want a token and no stderr", r.code, r.stderr)
				}
			})
		})
	}
}

// TestCacheHungKeyring puts a Secret Service on a private bus that takes
// calls and never answers, as gnome-keyring does while it waits for an unlock
// prompt nobody can see. The service is a fake, because a real daemon cannot
// be made to hang on demand; the bus is a real dbus-daemon.
func TestCacheHungKeyring(t *testing.T) {
	hung := keyringtest.StartHungService(t)
	srv := authtest.NewServer(testAccount)
	defer srv.Close()
	// The kernel keyring refused, as in a container, so that auto reaches
	// the Secret Service.
	env := withEnv(baseEnv(t, srv.TokenURL()), "DT_TOKEN_CACHE=", "DBUS_SESSION_BUS_ADDRESS="+hung.Addr, keyringtest.DenyKeyctlEnv)
	const margin = 2 * time.Second
	limit := keyring.DefaultOSTimeout + margin

	t.Run("auto", func(t *testing.T) {
		start := time.Now()
		r := runFor(t, runLimit, env, "", "token", "--cache", "auto", "-o", "token")
		took := time.Since(start)
		if tok := strings.TrimSuffix(r.stdout, "\n"); r.code != 0 || r.stderr != "" || !srv.Valid(tok) {
			t.Fatalf("exit %d, stdout %q, stderr %q; want a valid token", r.code, r.stdout, r.stderr)
		}
		if took > limit {
			t.Errorf("took %v with a hung keyring, want under %v", took.Round(time.Millisecond), limit)
		}
		if hung.Calls() == 0 {
			t.Error("the hung keyring was never asked")
		}
		key := keyring.Key(srv.TokenURL(), testAccount.KeyID, testAccount.Email)
		if _, err := keyring.NewFileStore(envValue(env, "DT_CACHE_DIR")).Get(key); err != nil {
			t.Errorf("the token is not in the file cache: %v", err)
		}

		// The next invocations remember the hang and do not wait for it.
		calls := hung.Calls()
		for i := range 3 {
			start := time.Now()
			r := runFor(t, runLimit, env, "", "token", "--cache", "auto", "-o", "token")
			if took := time.Since(start); r.code != 0 || took > time.Second {
				t.Errorf("call %d after the hang: exit %d in %v, want a cached token well under the keyring's %v timeout", i+2, r.code, took.Round(time.Millisecond), keyring.DefaultOSTimeout)
			}
		}
		if hung.Calls() != calls {
			t.Errorf("later invocations asked the hung keyring %d more times", hung.Calls()-calls)
		}
		if srv.Requests() != 1 {
			t.Errorf("%d token requests, want 1", srv.Requests())
		}
		st := runFor(t, runLimit, env, "", "status", "--cache", "auto")
		if !strings.Contains(st.stdout, "did not answer") {
			t.Errorf("status does not say why it uses files:\n%s", st.stdout)
		}
	})

	t.Run("keyring", func(t *testing.T) {
		start := time.Now()
		r := runFor(t, runLimit, withEnv(env, "DT_CACHE_DIR="+filepath.Join(t.TempDir(), "cache")), "", "token", "--cache", "keyring", "-o", "token")
		took := time.Since(start)
		if r.code != 1 || r.stdout != "" {
			t.Errorf("exit %d, stdout %q; want 1 and nothing", r.code, r.stdout)
		}
		oneStderrLine(t, r.stderr, "keyring")
		if took > limit {
			t.Errorf("took %v with a hung keyring, want under %v", took.Round(time.Millisecond), limit)
		}
	})
}

// TestCacheServesCachedTokenOnTransientFailure: a refresh that fails for a
// transient reason while the cached token still works serves that token with
// one warning; a rejection is an error.
func TestCacheServesCachedTokenOnTransientFailure(t *testing.T) {
	t.Parallel()
	needKeyringSession(t)
	f := newCacheFixture(t)
	cached := f.token(t)
	acct := keyring.Account{Endpoint: f.srv.TokenURL(), KeyID: f.keyID, Email: testAccount.Email, Identity: keyring.NewIdentity(f.key, testSecret)}
	tests := []struct {
		name  string
		fault authtest.Fault
		args  []string
		due   bool // the cached token has 30s left, under the default buffer
		code  int
	}{
		{"503 forced", authtest.Fault{Status: 503, Body: "{}"}, []string{"--force-refresh"}, false, 0},
		{"503 due for refresh", authtest.Fault{Status: 503, Body: "{}"}, nil, true, 0},
		{"dropped connection forced", authtest.Fault{Drop: true}, []string{"--force-refresh"}, false, 0},
		{"invalid_grant forced", authtest.ErrorFault(400, "invalid_grant", "bad signature"), []string{"--force-refresh"}, false, 1},
		{"invalid_grant due for refresh", authtest.ErrorFault(400, "invalid_grant", "bad signature"), nil, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each case starts without the back-off the previous case's
			// failure recorded beside the entry (docs/reliability.md), which
			// would serve the cached token without a refresh.
			if err := keyring.NewOSStore(10 * time.Second).Delete(f.key + ".backoff"); err != nil {
				t.Fatal(err)
			}
			if tt.due {
				writeDueEntry(t, keyring.NewOSStore(10*time.Second), f.key, acct, cached, 30*time.Second)
			}
			f.srv.InjectAlways(tt.fault)
			defer f.srv.ClearFaults()
			before := f.srv.Requests()
			// A short timeout: the 503s are retried until it ends.
			r := runFor(t, runLimit, f.env, "", append([]string{"token", "-o", "token", "--timeout", "3s"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d (stdout %q, stderr %q)", r.code, tt.code, r.stdout, r.stderr)
			}
			if f.srv.Requests() == before {
				t.Error("no refresh was tried")
			}
			if tt.code == 0 {
				if r.stdout != cached+"\n" {
					t.Errorf("stdout %q, want the cached token", r.stdout)
				}
				oneStderrLine(t, r.stderr, prog+": warning:")
				if !strings.HasPrefix(r.stderr, prog+": warning:") {
					t.Errorf("stderr %q does not start with the warning prefix", r.stderr)
				}
				if strings.Contains(r.stderr, cached) {
					t.Error("the warning shows the token")
				}
			} else {
				if r.stdout != "" {
					t.Errorf("stdout %q, want nothing", r.stdout)
				}
				oneStderrLine(t, r.stderr, "invalid_grant", f.keyID)
			}
			if e := f.entry(t); e.AccessToken != cached {
				t.Error("a failed refresh changed the cached entry")
			}
		})
	}
}

// nobody is the uid (and gid) other-user cases are made with.
const nobody = 65534

// needRoot skips t unless it runs as root, which giving a file to another
// user needs.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("making another user's file or directory needs root")
	}
}

// mkdirMode makes dir with mode exactly (past the umask).
func mkdirMode(t *testing.T, dir string, mode os.FileMode) string {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

// dirListing is what a test compares before and after a run: each path
// under root with its mode.
func dirListing(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %v", p, fi.Mode()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// An existing cache directory is used only when it is a real directory of
// ours that group and others cannot get into, looked up only through
// directories that are ours or root's and that others cannot write unless
// sticky; the program never re-modes it, never follows a symlink to one,
// and writes nothing into one it refuses: exit 2, naming the path. Its
// advice is to pick a directory of one's own, never to chmod one (the user
// named it: it may be shared, /tmp itself). A relative DT_CACHE_DIR is
// refused too.
func TestCacheDirRules(t *testing.T) {
	srv := authtest.NewServer(testAccount)
	defer srv.Close()
	tests := []struct {
		name string
		// setup returns DT_CACHE_DIR and the directory whose content and
		// modes must not change.
		setup func(t *testing.T, tmp string) (cacheDir, watch string)
		// hint is what the error must say besides the path.
		hint string
	}{
		{"shared sticky directory (mkdir -m1777)", func(t *testing.T, tmp string) (string, string) {
			d := mkdirMode(t, filepath.Join(tmp, "shared"), os.ModeSticky|0o777)
			return d, d
		}, "for example DT_CACHE_DIR=~/.cache/dt-credential-helper"},
		// Refused before anything is written: as root, /tmp is "ours".
		{"/tmp itself", func(t *testing.T, tmp string) (string, string) {
			return "/tmp", tmp
		}, "for example DT_CACHE_DIR=~/.cache/dt-credential-helper"},
		{"our directory, group-readable", func(t *testing.T, tmp string) (string, string) {
			d := mkdirMode(t, filepath.Join(tmp, "ours"), 0o750)
			return d, d
		}, "for example DT_CACHE_DIR=~/.cache/dt-credential-helper"},
		{"private, under a group-writable directory", func(t *testing.T, tmp string) (string, string) {
			shared := mkdirMode(t, filepath.Join(tmp, "shared"), 0o775)
			return mkdirMode(t, filepath.Join(shared, "cache"), 0o700), shared
		}, "group or others can write"},
		{"missing, under a world-writable directory", func(t *testing.T, tmp string) (string, string) {
			shared := mkdirMode(t, filepath.Join(tmp, "shared"), 0o777)
			return filepath.Join(shared, "cache"), shared
		}, "group or others can write"},
		{"private, under another user's directory", func(t *testing.T, tmp string) (string, string) {
			needRoot(t)
			theirs := mkdirMode(t, filepath.Join(tmp, "theirs"), 0o755)
			d := mkdirMode(t, filepath.Join(theirs, "cache"), 0o700)
			if err := os.Chown(theirs, nobody, nobody); err != nil {
				t.Fatal(err)
			}
			return d, theirs
		}, "uid 65534"},
		{"symlink planted by another user in a public directory", func(t *testing.T, tmp string) (string, string) {
			needRoot(t)
			target := mkdirMode(t, filepath.Join(tmp, "root-owned"), 0o700)
			pub := mkdirMode(t, filepath.Join(tmp, "pub"), os.ModeSticky|0o777)
			link := filepath.Join(pub, "dtcache")
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			if err := os.Lchown(link, nobody, nobody); err != nil {
				t.Fatal(err)
			}
			return link, tmp
		}, "symbolic link"},
		{"symlink to our own private directory", func(t *testing.T, tmp string) (string, string) {
			target := mkdirMode(t, filepath.Join(tmp, "real"), 0o700)
			link := filepath.Join(tmp, "link")
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			return link + "/", tmp // the trailing slash must not make it followed
		}, "symbolic link"},
		{"another user's 0700 directory", func(t *testing.T, tmp string) (string, string) {
			needRoot(t)
			d := mkdirMode(t, filepath.Join(tmp, "theirs"), 0o700)
			if err := os.Chown(d, nobody, nobody); err != nil {
				t.Fatal(err)
			}
			return d, d
		}, "directory of your own"},
		{"a file", func(t *testing.T, tmp string) (string, string) {
			f := filepath.Join(tmp, "file")
			if err := os.WriteFile(f, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return f, tmp
		}, "not a directory"},
	}
	for _, tt := range tests {
		for _, mode := range []string{"file", "auto", "keyring", "kernel"} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				tmp := filepath.Join(t.TempDir(), "t")
				mkdirMode(t, tmp, 0o700)
				dir, watch := tt.setup(t, tmp)
				before := dirListing(t, watch)
				// No D-Bus session: auto uses files, keyring fails fast; the
				// directory is refused before either.
				env := withEnv(baseEnv(t, srv.TokenURL()), "DT_CACHE_DIR="+dir, "DT_TOKEN_CACHE="+mode, "DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent")
				r := runFor(t, runLimit, env, "", "token", "-o", "token")
				if r.code != 2 || r.stdout != "" {
					t.Errorf("exit %d, stdout %q; want 2 and nothing", r.code, r.stdout)
				}
				oneStderrLine(t, r.stderr, strings.TrimSuffix(dir, "/"), tt.hint)
				if strings.Contains(r.stderr, "chmod") {
					t.Errorf("stderr %q advises re-moding a directory the program did not create", r.stderr)
				}
				if diff := cmp.Diff(before, dirListing(t, watch)); diff != "" {
					t.Errorf("the refused directory changed (-before +after):\n%s", diff)
				}
			})
		}
	}
	if n := srv.Requests(); n != 0 {
		t.Errorf("%d token requests for refused cache directories, want 0", n)
	}

	t.Run("relative DT_CACHE_DIR", func(t *testing.T) {
		cwd := t.TempDir()
		env := withEnv(baseEnv(t, srv.TokenURL()), "DT_CACHE_DIR=cache")
		cmd := exec.Command(binary, "token", "-o", "token")
		cmd.Env, cmd.Dir = env, cwd
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || len(out) != 0 {
			t.Errorf("err %v, stdout %q; want exit 2 and nothing", err, out)
		}
		oneStderrLine(t, stderr.String(), "DT_CACHE_DIR", "relative")
		if des, err := os.ReadDir(cwd); err != nil || len(des) != 0 {
			t.Errorf("the working directory holds %d entries (%v), want none", len(des), err)
		}
	})

	// What the program creates itself it makes private: a missing explicit
	// DT_CACHE_DIR (its last component only) and the default one with its
	// parents.
	t.Run("created", func(t *testing.T) {
		home := t.TempDir()
		explicit := filepath.Join(home, "explicit")
		env := withEnv(baseEnv(t, srv.TokenURL()), "DT_CACHE_DIR="+explicit)
		if r := runFor(t, runLimit, env, "", "token", "-o", "token"); r.code != 0 {
			t.Fatalf("explicit: exit %d, stderr %q", r.code, r.stderr)
		}
		// A DT_CACHE_DIR whose parent is missing cannot be made: the token
		// is still printed (as for any unwritable cache), and no parent is
		// created.
		r := runFor(t, runLimit, withEnv(env, "DT_CACHE_DIR="+filepath.Join(home, "missing", "cache")), "", "token", "-o", "token")
		if r.code != 0 || !srv.Valid(strings.TrimSpace(r.stdout)) {
			t.Errorf("DT_CACHE_DIR with a missing parent: exit %d, stderr %q; want the token", r.code, r.stderr)
		}
		if _, err := os.Lstat(filepath.Join(home, "missing")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the missing parent of DT_CACHE_DIR was created (lstat: %v)", err)
		}
		def := withEnv(withoutEnv(env, "DT_CACHE_DIR"), "XDG_CACHE_HOME="+filepath.Join(home, "xdg", "cache"))
		if r := runFor(t, runLimit, def, "", "token", "-o", "token"); r.code != 0 {
			t.Fatalf("default: exit %d, stderr %q", r.code, r.stderr)
		}
		for _, d := range []string{explicit, filepath.Join(home, "xdg", "cache", "dt-credential-helper")} {
			if fi, err := os.Lstat(d); err != nil {
				t.Error(err)
			} else if fi.Mode() != os.ModeDir|0o700 {
				t.Errorf("%s: mode %v, want a 0700 directory", d, fi.Mode())
			}
		}
	})
}

// Whatever is planted under a key's lock name in the cache directory (by
// root, or by the user's own mistake) neither hangs a refresh past
// --timeout nor makes the program create a file through a link: the
// refresh goes on without the lock and the token is printed.
func TestCacheLockPlanted(t *testing.T) {
	tests := []struct {
		name string
		// plant puts something at lock and returns a bait path that must
		// not exist afterwards, or "".
		plant func(t *testing.T, lock string) string
	}{
		{"FIFO", func(t *testing.T, lock string) string {
			mkfifo(t, lock)
			return ""
		}},
		{"symlink to a missing file elsewhere", func(t *testing.T, lock string) string {
			bait := filepath.Join(t.TempDir(), "nologin")
			if err := os.Symlink(bait, lock); err != nil {
				t.Fatal(err)
			}
			return bait
		}},
		{"symlink to a missing file in the cache directory", func(t *testing.T, lock string) string {
			bait := filepath.Join(filepath.Dir(lock), "bait")
			if err := os.Symlink(bait, lock); err != nil {
				t.Fatal(err)
			}
			return bait
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := authtest.NewServer(testAccount)
			defer srv.Close()
			env := baseEnv(t, srv.TokenURL())
			dir := mkdirMode(t, envValue(env, "DT_CACHE_DIR"), 0o700)
			bait := tt.plant(t, filepath.Join(dir, crashKey(srv)+".lock"))
			r := runFor(t, runLimit, env, "", "token", "-o", "token", "--timeout", "5s")
			if tok := strings.TrimSpace(r.stdout); r.code != 0 || !srv.Valid(tok) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want the token", r.code, r.stdout, r.stderr)
			}
			if bait != "" {
				if _, err := os.Lstat(bait); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("bait %s was created through the planted link (lstat: %v)", bait, err)
				}
			}
		})
	}
}

// A FIFO named as the credentials file does not hang the program past
// --timeout: it is refused as not a regular file (exit 2).
func TestCredentialsFileFIFO(t *testing.T) {
	srv := authtest.NewServer(testAccount)
	defer srv.Close()
	fifo := filepath.Join(t.TempDir(), "credentials.json")
	mkfifo(t, fifo)
	env := withEnv(withoutEnv(baseEnv(t, srv.TokenURL()), "DT_SERVICE_ACCOUNT_SECRET"), "DT_CREDENTIALS_FILE="+fifo)
	r := runFor(t, runLimit, env, "", "token", "-o", "token", "--timeout", "5s")
	if r.code != 2 || r.stdout != "" {
		t.Errorf("exit %d, stdout %q; want 2 and nothing", r.code, r.stdout)
	}
	oneStderrLine(t, r.stderr, fifo, "not a regular file")
}

// concurrentTokens starts n `token -o token` processes at once and returns
// what each printed; each must succeed, quietly, without leaking.
func concurrentTokens(t *testing.T, env []string, n int) []string {
	t.Helper()
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		tokens = make([]string, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			r, err := execBounded(env, "", runLimit, "token", "-o", "token")
			if err != nil {
				t.Error(err)
				return
			}
			checkNoLeak(t, r)
			if r.code != 0 || r.stderr != "" {
				t.Errorf("process %d: exit %d, stderr %q", i, r.code, r.stderr)
			}
			tokens[i] = strings.TrimSuffix(r.stdout, "\n")
		})
	}
	close(start)
	wg.Wait()
	return tokens
}
