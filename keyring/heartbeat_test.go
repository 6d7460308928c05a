package keyring

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// slowUpstream stands in for a token endpoint that hangs: its first call
// is held until the test lets it go (answering with a token, or failing
// for a transient reason) or its context ends; any later call answers at
// once, the same way.
type slowUpstream struct {
	started chan struct{} // closed when the first call starts
	release chan struct{} // closed to let the first call answer
	fail    bool

	mu    sync.Mutex
	calls int
}

func newSlowUpstream(fail bool) *slowUpstream {
	return &slowUpstream{started: make(chan struct{}), release: make(chan struct{}), fail: fail}
}

func (u *slowUpstream) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	u.mu.Lock()
	u.calls++
	n := u.calls
	u.mu.Unlock()
	if n == 1 {
		close(u.started)
		select {
		case <-u.release:
		case <-ctx.Done():
			return nil, temporaryError{}
		}
	}
	if u.fail {
		return nil, temporaryError{}
	}
	return &oauth2.Token{AccessToken: fmt.Sprintf("%snew-%d", tokenPrefix, n), TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
}

func (u *slowUpstream) Calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls
}

// TestCacheWaitsForALiveHolder: no valid token is cached, and one process
// (a Cache of its own over the shared store and lock directory) is
// refreshing, slowly. Another that comes meanwhile waits past its lock wait
// for as long as the holder shows it is alive, rather than make an attempt
// of its own; then it is served the holder's token, or, when the holder
// failed, the holder's failure at once (the back-off it recorded).
func TestCacheWaitsForALiveHolder(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail bool
	}{
		{"the holder succeeds", false},
		{"the holder fails", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(privateTempDir(t), "cache")
			loc := Location{Store: NewFileStore(dir), LockDir: dir}
			up := newSlowUpstream(tc.fail)
			holder := NewCache(up, CacheConfig{Location: loc, Account: testAcct, Timeout: time.Minute})
			// A lock wait far shorter than the holder's refresh.
			waiter := NewCache(up, CacheConfig{Location: loc, Account: testAcct, Timeout: time.Minute, LockWait: 100 * time.Millisecond})

			held := make(chan error, 1)
			go func() {
				_, err := holder.TokenContext(context.Background())
				held <- err
			}()
			<-up.started
			waited := make(chan struct{})
			var tok *oauth2.Token
			var err error
			go func() {
				defer close(waited)
				tok, err = waiter.TokenContext(context.Background())
			}()
			// Ten times the waiter's lock wait, and a few heartbeats.
			time.Sleep(3 * time.Second)
			close(up.release)
			<-waited
			herr := <-held

			if n := up.Calls(); n != 1 {
				t.Errorf("%d calls to the upstream, want 1: the waiter must wait for the live holder, not try itself", n)
			}
			switch {
			case tc.fail && (herr == nil || !isBackoff(err)):
				t.Errorf("holder: %v; waiter: %v, %v; want the holder's failure, and the waiter a *BackoffError", herr, tok, err)
			case !tc.fail && (herr != nil || err != nil || tok.AccessToken != tokenPrefix+"new-1"):
				t.Errorf("holder: %v; waiter: %v, %v; want the holder's token", herr, tok, err)
			}
		})
	}
}

// TestLockHolderHeartbeat: past its lock wait, Lock waits on for a holder
// whose heartbeat goes on (until ctx ends), and gives up on one whose
// heartbeat stopped while it kept the lock (a process stopped by SIGSTOP)
// once lockStale has passed without a touch, or on one that never had
// one.
func TestLockHolderHeartbeat(t *testing.T) {
	for _, tc := range []struct {
		name    string
		beat    bool // the holder starts a heartbeat
		stopped bool // and it stops before the waiter comes
		want    error
	}{
		{"beating", true, false, context.DeadlineExceeded},
		{"stopped", true, true, ErrLockTimeout},
		{"no heartbeat", false, false, ErrLockTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := privateTempDir(t)
			unlock, err := Lock(t.Context(), dir, "k", time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer unlock()
			if tc.beat {
				stop := heartbeat(filepath.Join(dir, "k.lock"))
				defer stop()
				if tc.stopped {
					stop()
				}
			}
			// Long enough for the stopped heartbeat to go stale.
			ctx, cancel := context.WithTimeout(t.Context(), lockStale+5*time.Second)
			defer cancel()
			unlock2, err := Lock(ctx, dir, "k", 100*time.Millisecond)
			if err == nil {
				unlock2()
			}
			if !errors.Is(err, tc.want) || (tc.want != ErrLockTimeout && errors.Is(err, ErrLockTimeout)) {
				t.Errorf("Lock = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestHolderWatch: what a waiter makes of the lock file's times. A change
// is a touch, whatever the clock says; the time found at the first look is
// believed only within lockStale of the wall clock; the idle mark is
// never a touch.
func TestHolderWatch(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name   string
		mtimes []time.Time // set before each look
		alive  []bool      // after each look
	}{
		{"touched just now", []time.Time{now.Add(-500 * time.Millisecond)}, []bool{true}},
		{"idle", []time.Time{idleMark}, []bool{false}},
		{"idle on a file system that keeps no 1970", []time.Time{time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)}, []bool{false}},
		{"touched long ago", []time.Time{now.Add(-time.Hour)}, []bool{false}},
		{"touched long ago, then again: the clock was set forward", []time.Time{now.Add(-time.Hour), now.Add(-time.Hour + time.Second)}, []bool{false, true}},
		{"touched in the future, then again: the clock was set back", []time.Time{now.Add(time.Hour), now.Add(time.Hour + time.Second)}, []bool{false, true}},
		{"touched, then marked idle", []time.Time{now.Add(-100 * time.Millisecond), idleMark}, []bool{true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(privateTempDir(t), "k.lock")
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			w := holderWatch{path: path}
			for i, m := range tc.mtimes {
				if err := privatefile.SetModTime(path, m); err != nil {
					t.Fatal(err)
				}
				w.observe()
				if got := w.alive(); got != tc.alive[i] {
					t.Errorf("look %d, the file's time %v from now: alive = %v, want %v", i+1, m.Sub(now).Round(time.Millisecond), got, tc.alive[i])
				}
			}
		})
	}
}

// TestLockMarksIdle: a lock just taken says its holder is not refreshing;
// the heartbeat says it is, at once.
func TestLockMarksIdle(t *testing.T) {
	dir := privateTempDir(t)
	path := filepath.Join(dir, "k.lock")
	unlock, err := Lock(t.Context(), dir, "k", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	mtime := func() time.Time {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime()
	}
	if m := mtime(); !m.Before(idleBefore) {
		t.Errorf("lock file's time %v after Lock, want the idle mark", m)
	}
	stop := heartbeat(path)
	if m := mtime(); m.Before(idleBefore) {
		t.Errorf("lock file's time %v once the heartbeat started, want about now", m)
	}
	stop()
	stop() // a second call must be harmless
}
