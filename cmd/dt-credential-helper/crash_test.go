package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// Crash, concurrency, unwritable-cache and clock-skew tests of the built
// binary with DT_TOKEN_CACHE=file. The DT identity service cannot run here:
// the in-process emulator (auth/authtest) stands in for it, also for its
// clock (see TestCrashClockSkew and docs/clock-skew.md).

// crashLimit bounds every run of the binary in these tests.
const crashLimit = 30 * time.Second

// crashExec runs the binary with env, killing it after crashLimit, and
// checks its output for leaks. It never calls t, so goroutines may use it.
func crashExec(env []string, args ...string) (result, error) {
	r, err := execBounded(env, "", crashLimit, args...)
	if err != nil {
		return r, err
	}
	if leak := leakIn(r); leak != "" {
		return r, fmt.Errorf("%v: %s", args, leak)
	}
	return r, nil
}

// crashRun is crashExec for the test goroutine.
func crashRun(t *testing.T, env []string, args ...string) result {
	t.Helper()
	r, err := crashExec(env, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// crashToken runs `token -o token` plus args and returns the token, failing
// t unless the call succeeded with a token the emulator issued and nothing on
// stderr.
func crashToken(t *testing.T, srv *authtest.Server, env []string, args ...string) string {
	t.Helper()
	r := crashRun(t, env, append([]string{"token", "-o", "token"}, args...)...)
	tok := strings.TrimSpace(r.stdout)
	if r.code != 0 || r.stderr != "" || !srv.Valid(tok) {
		t.Fatalf("token %v: exit %d, stdout %q, stderr %q; want a valid token and no stderr", args, r.code, r.stdout, r.stderr)
	}
	return tok
}

// crashCacheDir returns the DT_CACHE_DIR of env.
func crashCacheDir(t *testing.T, env []string) string {
	t.Helper()
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "DT_CACHE_DIR="); ok {
			return v
		}
	}
	t.Fatal("env has no DT_CACHE_DIR")
	return ""
}

// crashKey is the cache key of testAccount at srv, which names the entry
// file, its lock file and its temporary files.
func crashKey(srv *authtest.Server) string {
	return keyring.Key(srv.TokenURL(), testAccount.KeyID, testAccount.Email)
}

// crashCacheState is what the cache directory holds: the entry file's bytes
// (nil when absent), its temporary files and everything else.
type crashCacheState struct {
	entry  []byte
	temps  []string
	others []string
}

// crashReadCache lists dir. The entry is the one file that is neither a lock
// file nor a dot file (temporary files start with a dot).
func crashReadCache(t *testing.T, dir, key string) crashCacheState {
	t.Helper()
	var s crashCacheState
	des, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return s
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		switch name := de.Name(); {
		case name == key:
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			s.entry = data
		case name == key+".lock":
		case strings.HasPrefix(name, "."+key+".tmp-"):
			s.temps = append(s.temps, name)
		default:
			s.others = append(s.others, name)
		}
	}
	return s
}

// crashEntry decodes the cache entry, failing t if it is torn or foreign.
func crashEntry(t *testing.T, data []byte) keyring.Entry {
	t.Helper()
	e, err := keyring.DecodeEntry(data)
	if err != nil {
		t.Fatalf("cache entry is not decodable (%v): %d bytes %q", err, len(data), data)
	}
	return e
}

// crashKill sends SIGKILL to cmd and reaps it, reporting whether the signal
// ended it (false: it had already exited by itself).
func crashKill(t *testing.T, cmd *exec.Cmd) (killed bool) {
	t.Helper()
	_ = cmd.Process.Signal(syscall.SIGKILL) // fails harmlessly if it exited
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			if ws.Signal() != syscall.SIGKILL {
				t.Fatalf("process ended by %v, not SIGKILL", ws.Signal())
			}
			return true
		}
	}
	return false
}

// crashStart starts the binary with stdout and stderr captured.
func crashStart(t *testing.T, env []string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &stdout
}

// A process killed while it holds the key's lock (waiting for the token
// response) leaves no stale lock: flock is released by the kernel, so the
// next call takes the lock at once instead of waiting out the 10s bound.
func TestCrashKilledHoldingRefreshLock(t *testing.T) {
	srv := authtest.NewServer(testAccount)
	defer srv.Close()
	env := baseEnv(t, srv.TokenURL())
	dir, key := crashCacheDir(t, env), crashKey(srv)

	srv.Inject(authtest.Fault{Delay: 5 * time.Second})
	cmd, _ := crashStart(t, env, "token", "-o", "token")
	defer crashKill(t, cmd)
	if !waitFor(10*time.Second, func() bool { return srv.Requests() == 1 }) {
		t.Fatal("the token request never reached the emulator")
	}
	// The victim holds the lock now: we cannot take it. (Its heartbeat says
	// it is alive, so Lock would wait on for it: a second is enough.)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if unlock, err := keyring.Lock(ctx, dir, key, 100*time.Millisecond); err == nil {
		unlock()
		t.Fatal("took the lock while the victim waits for its token")
	}
	if !crashKill(t, cmd) {
		t.Fatal("the victim exited before SIGKILL; its token response was not delayed")
	}
	if s := crashReadCache(t, dir, key); s.entry != nil {
		crashEntry(t, s.entry) // nothing or a complete entry
	}

	start := time.Now()
	r := crashRun(t, env, "token", "-o", "token", "--verbose")
	took := time.Since(start)
	tok := strings.TrimSpace(r.stdout)
	if r.code != 0 || !srv.Valid(tok) {
		t.Fatalf("call after the kill: exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if took > keyring.DefaultLockWait/2 || strings.Contains(r.stderr, "proceeding without the cache lock") || !strings.Contains(r.stderr, "cache lock taken") {
		t.Errorf("call after the kill took %v (lock wait bound %v); want the lock taken at once:\n%s", took, keyring.DefaultLockWait, r.stderr)
	}
	if e := crashEntry(t, crashReadCache(t, dir, key).entry); e.AccessToken != tok {
		t.Errorf("cached token is not the one printed")
	}
	if n := srv.Requests(); n != 2 {
		t.Errorf("%d token requests, want 2 (the killed one and the next call's)", n)
	}
	t.Logf("call after SIGKILL of the lock holder took %v", took.Round(time.Millisecond))
}

// Processes refreshing the token are killed at random moments, many times
// over. The rename window is too small to aim at, so this samples it: after
// every kill the entry must be the old one or a new complete one, never torn
// or missing, and whatever a killed writer left behind must not hurt the
// next call.
func TestCrashKilledWhileWritingFileCache(t *testing.T) {
	srv := authtest.NewServer(testAccount)
	defer srv.Close()
	env := baseEnv(t, srv.TokenURL())
	dir, key := crashCacheDir(t, env), crashKey(srv)
	crashToken(t, srv, env)

	// Kills are spread over a whole forced refresh: 0-15 ms, or longer if a
	// run takes longer here, so that some land before the write, some after
	// it and (rarely) some inside it.
	start := time.Now()
	crashToken(t, srv, env, "--force-refresh")
	spread := max(15*time.Millisecond, time.Since(start)*6/5)

	iterations := 200
	if testing.Short() {
		iterations = 50
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	var unchanged, replaced, finished, leftTemps int
	for i := range iterations {
		before := crashReadCache(t, dir, key)
		if before.entry == nil {
			t.Fatalf("iteration %d: no entry before the kill", i)
		}
		cmd, stdout := crashStart(t, env, "token", "-o", "token", "--force-refresh")
		time.Sleep(time.Duration(rng.Int64N(int64(spread))))
		killed := crashKill(t, cmd)

		after := crashReadCache(t, dir, key)
		if len(after.others) > 0 {
			t.Fatalf("iteration %d: unexpected files in the cache directory: %q", i, after.others)
		}
		if after.entry == nil {
			t.Fatalf("iteration %d: the entry vanished (killed %v)", i, killed)
		}
		e := crashEntry(t, after.entry)
		switch {
		case bytes.Equal(after.entry, before.entry):
			unchanged++
		default:
			if _, ok := srv.Token(e.AccessToken); !ok {
				t.Fatalf("iteration %d: cached token was not issued by the emulator", i)
			}
			replaced++
		}
		if !killed {
			finished++
			if got := strings.TrimSpace(stdout.String()); got != e.AccessToken {
				t.Fatalf("iteration %d: the process finished but the cache does not hold the token it printed", i)
			}
		}
		if len(after.temps) > len(before.temps) {
			leftTemps++
		}
	}
	temps := crashReadCache(t, dir, key).temps
	t.Logf("seed %d, kills spread over %v: %d iterations, entry unchanged %d, replaced %d, process finished before the kill %d, a temporary file left behind %d times, %d temporary files now",
		seed, spread, iterations, unchanged, replaced, finished, leftTemps, len(temps))
	if unchanged == 0 || replaced == 0 {
		t.Errorf("the kills did not straddle the write (unchanged %d, replaced %d): the test sampled nothing", unchanged, replaced)
	}

	// Whatever was left behind, the next calls work and see a whole entry.
	tok := crashToken(t, srv, env)
	if e := crashEntry(t, crashReadCache(t, dir, key).entry); e.AccessToken != tok {
		t.Errorf("cached token is not the one printed")
	}

	// A writer killed between creating its temporary file and the rename
	// leaves the file behind. The kills above may or may not have hit that
	// window, so one such file is planted as well, as a killed writer leaves
	// it: half written. A later writer removes the stale ones; a young one
	// may belong to a writer still at work and is left alone.
	stale := filepath.Join(dir, "."+key+".tmp-4242424242")
	if err := os.WriteFile(stale, []byte(`{"v":1,"access_tok`), 0o600); err != nil {
		t.Fatal(err)
	}
	young := filepath.Join(dir, "."+key+".tmp-young")
	if err := os.WriteFile(young, []byte(`{"v":1,"access_tok`), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	for _, name := range crashReadCache(t, dir, key).temps {
		if p := filepath.Join(dir, name); p != young {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	crashToken(t, srv, env) // a cache hit writes nothing
	if got := crashReadCache(t, dir, key).temps; len(got) < 2 {
		t.Errorf("temporary files %q after a cache hit; want them left to the next writer", got)
	}
	crashToken(t, srv, env, "--force-refresh")
	if got := crashReadCache(t, dir, key).temps; !slices.Equal(got, []string{filepath.Base(young)}) {
		t.Errorf("temporary files after the next write: %q; want only the young one, %q", got, filepath.Base(young))
	}
}

// 64 processes start in waves across the moment the cached token is due.
// The key's lock makes them refresh once per crossing; a second request is
// tolerated (a waiter whose lock wait ran out), more are not.
func TestCrashConcurrentAcrossExpiry(t *testing.T) {
	const (
		// A token is due 5s after it was requested; the buffer is less than
		// half the lifetime, which the helper would cut it to.
		ttl     = 9 * time.Second
		buffer  = 4 * time.Second
		waves   = 8
		perWave = 8
		window  = 3 * time.Second // waves from due-1.5s to due+1.5s
	)
	srv := authtest.NewServer(testAccount)
	defer srv.Close()
	srv.SetTokenTTL(ttl)
	env := baseEnv(t, srv.TokenURL())
	dir, key := crashCacheDir(t, env), crashKey(srv)
	args := []string{"token", "-o", "token", "--refresh-buffer", buffer.String()}

	first := crashToken(t, srv, env, args[3:]...)
	due := crashEntry(t, crashReadCache(t, dir, key).entry).Expiry.Add(-buffer)
	if time.Until(due) < window/2+200*time.Millisecond {
		t.Fatalf("the first call took too long: its token is due in %v", time.Until(due))
	}

	type run struct {
		launched time.Time
		r        result
		err      error
	}
	var (
		mu   sync.Mutex
		runs []run
		wg   sync.WaitGroup
	)
	for w := range waves {
		at := due.Add(-window/2 + window*time.Duration(w)/(waves-1))
		time.Sleep(time.Until(at))
		for range perWave {
			wg.Go(func() {
				launched := time.Now()
				r, err := crashExec(env, args...)
				mu.Lock()
				runs = append(runs, run{launched, r, err})
				mu.Unlock()
			})
		}
	}
	wg.Wait()

	tokens := map[string]int{}
	var before, after int
	for _, x := range runs {
		tok := strings.TrimSpace(x.r.stdout)
		if x.err != nil || x.r.code != 0 || x.r.stderr != "" || !srv.Valid(tok) {
			t.Errorf("exit %d, stdout %q, stderr %q, err %v; want a valid token", x.r.code, x.r.stdout, x.r.stderr, x.err)
			continue
		}
		tokens[tok]++
		if x.launched.After(due) {
			after++
			if tok == first {
				t.Errorf("a process started %v after the token was due got it anyway", x.launched.Sub(due))
			}
		} else {
			before++
		}
	}
	if len(runs) != waves*perWave {
		t.Fatalf("%d runs, want %d", len(runs), waves*perWave)
	}
	refreshes := srv.Requests() - 1
	t.Logf("%d processes (%d started before the token was due, %d after): %d token requests beyond the first, %d distinct tokens",
		len(runs), before, after, refreshes, len(tokens))
	if refreshes < 1 || refreshes > 2 {
		t.Errorf("%d token requests across one expiry, want 1 (at most 2)", refreshes)
	}
	if len(tokens) > 1+refreshes {
		t.Errorf("%d distinct tokens from %d requests", len(tokens), 1+refreshes)
	}
	if after == 0 || before == 0 {
		t.Errorf("the waves did not straddle the expiry (%d before, %d after)", before, after)
	}
}

// crashMount mounts a tmpfs with opts on a new directory and unmounts it
// when the test ends, skipping the test where mounting is not allowed.
func crashMount(t *testing.T, opts string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cache")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot mount a tmpfs (-o %s) here: %v: %s", opts, err, bytes.TrimSpace(out))
		if os.Geteuid() != 0 {
			t.Skip(msg)
		}
		testutil.SkipOutsideCI(t, msg+"; CI runs as root, where mounting must work")
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// A cache directory that cannot be written costs a refresh per call, never
// the token: it is printed (exit 0), the write failure is shown only under
// --verbose, and a normal call's stderr stays empty.
func TestCrashUnwritableCacheDir(t *testing.T) {
	tests := []struct {
		name string
		// dir returns the DT_CACHE_DIR to use.
		dir func(t *testing.T) string
		// why is the write failure --verbose must show.
		why string
	}{
		{
			// Mode bits do not stop root (these tests run as root in CI), so
			// for root a read-only mount makes the directory read-only;
			// anyone else gets a 0500 directory.
			name: "read-only",
			dir: func(t *testing.T) string {
				if os.Geteuid() == 0 {
					return crashMount(t, "ro,mode=0700")
				}
				dir := filepath.Join(t.TempDir(), "cache")
				if err := os.Mkdir(dir, 0o500); err != nil {
					t.Fatal(err)
				}
				return dir
			},
			why: map[bool]string{true: "read-only file system", false: "permission denied"}[os.Geteuid() == 0],
		},
		{
			// A one-page tmpfs filled up: files can be created, not written.
			name: "full",
			dir: func(t *testing.T) string {
				if os.Geteuid() != 0 {
					t.Skip("filling a file system needs a tmpfs of its own, which needs root")
				}
				dir := crashMount(t, "size=4k,mode=0700")
				f, err := os.Create(filepath.Join(dir, "filler"))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				for {
					if _, err := f.Write(make([]byte, 1024)); err != nil {
						if !errors.Is(err, syscall.ENOSPC) {
							t.Fatal(err)
						}
						return dir
					}
				}
			},
			why: "no space left on device",
		},
		{
			// A path through a file: the directory cannot even be created.
			name: "not a directory",
			dir:  func(*testing.T) string { return "/dev/null/cache" },
			why:  "not a directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := authtest.NewServer(testAccount)
			defer srv.Close()
			dir := tt.dir(t)
			env := withEnv(baseEnv(t, srv.TokenURL()), "DT_CACHE_DIR="+dir)

			crashToken(t, srv, env) // no stderr at all

			r := crashRun(t, env, "token", "-o", "token", "--verbose")
			if r.code != 0 || !srv.Valid(strings.TrimSpace(r.stdout)) {
				t.Fatalf("--verbose: exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
			}
			var failure string
			for line := range strings.Lines(r.stderr) {
				if strings.Contains(line, "caching the token failed") {
					failure = line
				}
			}
			t.Logf("--verbose: %s", strings.TrimSpace(failure))
			if !strings.Contains(failure, tt.why) {
				t.Errorf("--verbose does not show the write failure (%q):\n%s", tt.why, r.stderr)
			}
			if n := srv.Requests(); n != 2 {
				t.Errorf("%d token requests, want 2 (nothing could be cached)", n)
			}
			if s := crashReadCache(t, dir, crashKey(srv)); s.entry != nil || len(s.temps) > 0 {
				t.Errorf("cache directory holds an entry or temporary files %q after failed writes", s.temps)
			}
		})
	}
}

// The helper's clock cannot be moved in a process; moving the emulator's
// clock the other way is the same thing. What is asserted here is what
// docs/clock-skew.md says.
func TestCrashClockSkew(t *testing.T) {
	tests := []struct {
		name string
		// skew is how far the helper's clock is ahead of the server's.
		skew     time.Duration
		accepted bool
		// reason is in the rejection's one line of stderr.
		reason string
	}{
		{name: "helper 5m behind", skew: -5 * time.Minute, accepted: true},
		{name: "helper 30s ahead", skew: 30 * time.Second, accepted: true},
		{name: "helper 5m ahead", skew: 5 * time.Minute, reason: "in the future; allowed clock skew is 1m0s"},
		{name: "helper 2h behind", skew: -2 * time.Hour, reason: "assertion expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := authtest.NewServer(testAccount)
			defer srv.Close()
			skewed := func() time.Time { return time.Now().Add(-tt.skew) }
			srv.SetClock(skewed)
			env := baseEnv(t, srv.TokenURL())
			dir, key := crashCacheDir(t, env), crashKey(srv)
			rejected := func(r result) {
				t.Helper()
				if r.code != 1 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
					t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and one line on stderr", r.code, r.stdout, r.stderr)
				}
				for _, want := range []string{prog + ": ", "HTTP 400 invalid_grant", tt.reason, "credentials were rejected"} {
					if !strings.Contains(r.stderr, want) {
						t.Errorf("stderr %q does not say %q", r.stderr, want)
					}
				}
			}

			sent := time.Now()
			r := crashRun(t, env, "token", "-o", "json")
			if !tt.accepted {
				t.Logf("stderr: %s", strings.TrimSpace(r.stderr))
				rejected(r)
				if s := crashReadCache(t, dir, key); s.entry != nil {
					t.Errorf("something was cached after a rejection")
				}
				// A cached token that is due is not served in place of a
				// rejected refresh, though it has not expired yet.
				srv.SetClock(nil)
				tok := crashToken(t, srv, env)
				acct := keyring.Account{Endpoint: srv.TokenURL(), KeyID: testAccount.KeyID, Email: testAccount.Email, Identity: keyring.NewIdentity(key, testSecret)}
				cached := writeDueEntry(t, keyring.NewFileStore(dir), key, acct, tok, 30*time.Second)
				srv.SetClock(skewed)
				rejected(crashRun(t, env, "token", "-o", "token"))
				if !bytes.Equal(crashReadCache(t, dir, key).entry, cached) {
					t.Errorf("the cache entry changed after a rejected refresh")
				}
				return
			}
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			var out struct {
				AccessToken string    `json:"access_token"`
				ExpiresAt   time.Time `json:"expires_at"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
				t.Fatal(err)
			}
			info, ok := srv.Token(out.AccessToken)
			if !ok || !srv.Valid(out.AccessToken) {
				t.Fatalf("printed token unknown to the emulator or invalid")
			}
			// The expiry is the helper's send time plus expires_in, on the
			// helper's clock: the server's expiry moved onto that clock.
			if d := out.ExpiresAt.Sub(info.ExpiresAt.Add(tt.skew)); d > time.Second || d < -3*time.Second {
				t.Errorf("expires_at %v is %v off the server's expiry on the helper's clock", out.ExpiresAt, d)
			}
			if d := out.ExpiresAt.Sub(sent.Add(authtest.DefaultTokenTTL)); d < -time.Second || d > 3*time.Second {
				t.Errorf("expires_at %v is not an hour after the request (%v)", out.ExpiresAt, d)
			}
			// And so caching works as without skew.
			if tok := crashToken(t, srv, env); tok != out.AccessToken || srv.Requests() != 1 {
				t.Errorf("second call: %d token requests, same token %v; want it served from the cache", srv.Requests(), tok == out.AccessToken)
			}
		})
	}
}
