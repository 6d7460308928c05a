//go:build unix

package main

import (
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// TestOutageStoppedLockHolder: the process refreshing the token is stopped
// (SIGSTOP, as Ctrl-Z stops the git that runs it) while it holds the key's
// lock, waiting for an answer that does not come. It keeps the lock, but
// its heartbeat stops, so the calls waiting for it go on without the lock
// after keyring.DefaultLockWait and are served a token, well before their
// --timeout, whether it was stopped before they came or while they waited.
// Stopped only after their lock wait, it was waited for until then (alive,
// it will fail or succeed for everyone): no request was made meanwhile.
func TestOutageStoppedLockHolder(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop time.Duration // after the waiters start; negative: before
	}{
		{"stopped before the others call", -1},
		{"stopped while the others wait", 3 * time.Second},
		{"stopped after the others' lock wait", keyring.DefaultLockWait + 2*time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const (
				waiters = 4
				timeout = 30 * time.Second
			)
			srv := authtest.NewServer(testAccount)
			t.Cleanup(srv.Close)
			env := baseEnv(t, srv.TokenURL())
			// The endpoint hangs until the holder is stopped, then answers:
			// a request made before is the holder's, or a waiter's that did
			// not wait for it.
			srv.InjectAlways(hungEndpoint)
			started := time.Now()
			holder, _ := crashStart(t, env, "token", "-o", "token", "--timeout", "5m")
			t.Cleanup(func() { crashKill(t, holder) }) // SIGKILL ends a stopped process too
			if !waitFor(runLimit, func() bool { return srv.Requests() == 1 }) {
				t.Fatal("the holder's token request never reached the emulator")
			}
			var atStop, holders int // token requests when the holder was stopped; how many of them it made
			stopped := make(chan struct{})
			stop := func() {
				defer close(stopped)
				if err := holder.Process.Signal(syscall.SIGSTOP); err != nil {
					t.Error(err)
				}
				atStop, holders = srv.Requests(), hungAttempts(time.Since(started))
				srv.ClearFaults()
			}
			if tc.stop < 0 {
				stop()
			} else {
				time.AfterFunc(tc.stop, stop)
			}

			results := make([]result, waiters)
			errs := make([]error, waiters)
			took := make([]time.Duration, waiters)
			var wg sync.WaitGroup
			for i := range waiters {
				wg.Go(func() {
					start := time.Now()
					results[i], errs[i] = execBounded(env, "", runLimit+timeout, "token", "-o", "token", "--verbose", "--timeout", timeout.String())
					took[i] = time.Since(start)
				})
			}
			wg.Wait()
			<-stopped
			if atStop > holders {
				t.Errorf("%d token requests when the holder was stopped, want at most %d (its own): the others must wait for a live holder",
					atStop, holders)
			}
			for i, r := range results {
				if errs[i] != nil {
					t.Fatal(errs[i])
				}
				checkNoLeak(t, r)
				if tok := strings.TrimSuffix(r.stdout, "\n"); r.code != 0 || !srv.Valid(tok) {
					t.Fatalf("waiter %d: exit %d, stderr:\n%s\nwant a token", i, r.code, r.stderr)
				}
				if !strings.Contains(r.stderr, "proceeding without the cache lock") && !strings.Contains(r.stderr, "refreshed by another caller while we waited") {
					t.Errorf("waiter %d: stderr does not say it went on without the lock, or was served another's token:\n%s", i, r.stderr)
				}
				if took[i] >= timeout-keyring.DefaultLockWait/2 {
					t.Errorf("waiter %d took %v, want well under its --timeout %v: the stopped holder is not waited for", i, took[i], timeout)
				}
			}
			t.Logf("%s: %d waiters took %v; %d token requests before the stop, %d after",
				tc.name, waiters, took, atStop, srv.Requests()-atStop)
		})
	}
}
