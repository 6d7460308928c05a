package plugin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// fakeClock hands each After call to the test, which moves time on and
// fires it: the watcher's pacing is checked without sleeping.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan fakeWait
}

type fakeWait struct {
	d    time.Duration
	fire chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- fakeWait{d, ch}
	return ch
}

// watchHarness runs a watcher over f on a fake clock and lets a test take
// and fire each of its waits.
type watchHarness struct {
	t     *testing.T
	clock *fakeClock
	sent  chan *oauth2.Token
	done  chan error
}

func startWatch(t *testing.T, f *fakeTokens, buffer time.Duration) *watchHarness {
	t.Helper()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), waits: make(chan fakeWait)}
	f.now = clock.Now
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &watchHarness{t: t, clock: clock, sent: make(chan *oauth2.Token, 10), done: make(chan error, 1)}
	w := watcher{p: f, clock: clock, buffer: buffer}
	go func() {
		h.done <- w.run(ctx, "", func(tok *oauth2.Token) error { h.sent <- tok; return nil })
	}()
	return h
}

// takeWait takes the watcher's next wait and checks it. Until it is fired
// the watcher is parked, so the test can change the fake Tokens and the
// clock without racing it.
func (h *watchHarness) takeWait(want time.Duration) fakeWait {
	h.t.Helper()
	select {
	case w := <-h.clock.waits:
		if w.d != want {
			h.t.Fatalf("watcher waits %v, want %v", w.d, want)
		}
		return w
	case err := <-h.done:
		h.t.Fatalf("watcher ended early: %v", err)
	case <-time.After(5 * time.Second):
		h.t.Fatal("watcher is not waiting")
	}
	return fakeWait{}
}

// takeWaitIn takes the watcher's next wait and checks that it lies in
// bearer's back-off span after the n-th failure in a row.
func (h *watchHarness) takeWaitIn(n int, retryAfter time.Duration) fakeWait {
	h.t.Helper()
	lo, hi := bearer.BackoffSpan(n, retryAfter)
	select {
	case w := <-h.clock.waits:
		if w.d < lo || w.d > hi {
			h.t.Fatalf("watcher waits %v after failure %d, want %v to %v", w.d, n, lo, hi)
		}
		return w
	case err := <-h.done:
		h.t.Fatalf("watcher ended early: %v", err)
	case <-time.After(5 * time.Second):
		h.t.Fatal("watcher is not waiting")
	}
	return fakeWait{}
}

// advance moves the fake clock on by d.
func (h *watchHarness) advance(d time.Duration) time.Time {
	h.clock.mu.Lock()
	defer h.clock.mu.Unlock()
	h.clock.now = h.clock.now.Add(d)
	return h.clock.now
}

// fire lets the rest of w pass (elapsed of it has, by advance) and wakes
// the watcher.
func (h *watchHarness) fire(w fakeWait, elapsed time.Duration) { w.fire <- h.advance(w.d - elapsed) }

func (h *watchHarness) expectWait(want time.Duration) { h.t.Helper(); h.fire(h.takeWait(want), 0) }

func (h *watchHarness) expectSent(want string) {
	h.t.Helper()
	select {
	case tok := <-h.sent:
		if tok.AccessToken != want {
			h.t.Fatalf("sent %s, want %s", tok.AccessToken, want)
		}
	case <-time.After(5 * time.Second):
		h.t.Fatalf("no token sent, want %s", want)
	}
}

// TestWatcherPacing: the watcher asks for a token's successor exactly when
// the cache would refresh it (bearer.DueAt with the cache's buffer), so the
// cache refreshes then and no refresh is forced.
func TestWatcherPacing(t *testing.T) {
	f := newFake(time.Hour, time.Minute)
	h := startWatch(t, f, time.Minute)

	h.expectSent("tok-1")
	// Due with a minute left of the hour: the cache refreshes, unforced.
	h.expectWait(59 * time.Minute)
	h.expectSent("tok-2")
	if minted, forced := f.counts(); minted != 2 || forced != 0 {
		t.Errorf("minted %d, forced %d refreshes; want 2 and 0", minted, forced)
	}

	// Another process refreshed the shared cache half-way through tok-2:
	// its token is picked up, nothing is minted or forced, and the watcher
	// paces itself by that token's expiry.
	w := h.takeWait(59 * time.Minute)
	h.advance(30 * time.Minute)
	f.mint("")
	h.fire(w, 30*time.Minute)
	h.expectSent("tok-3")
	if minted, forced := f.counts(); minted != 3 || forced != 0 {
		t.Errorf("minted %d, forced %d refreshes; want 3 and 0", minted, forced)
	}

	// Transient failures back off by bearer's schedule and keep the watch
	// open.
	w = h.takeWait(30 * time.Minute)
	f.setErr("", fmt.Errorf("connection refused: %w", ErrUnavailable))
	h.fire(w, 0)
	h.fire(h.takeWaitIn(1, 0), 0)
	h.fire(h.takeWaitIn(2, 0), 0)
	w = h.takeWaitIn(3, 0)
	f.setErr("", nil)
	h.fire(w, 0)
	h.expectSent("tok-4")
	// The new token's whole hour is left: back to pacing by expiry.
	w = h.takeWait(59 * time.Minute)
	f.setErr("", fmt.Errorf("token request: %w", ErrRejected))
	h.fire(w, 0)
	select {
	case err := <-h.done:
		if !errors.Is(err, ErrRejected) {
			t.Errorf("watcher ended with %v, want the rejection", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watcher did not stop on rejected credentials")
	}
}

// TestWatcherPacingFollowsTheRule: the wait is bearer's, whatever the
// buffer and the token's life: cut to half a short life, none for
// bearer.NoBuffer.
func TestWatcherPacingFollowsTheRule(t *testing.T) {
	for _, tc := range []struct {
		name              string
		ttl, cache, watch time.Duration
		wait              time.Duration
		forced            int
	}{
		{"the default buffer", time.Hour, time.Minute, 0, 59 * time.Minute, 0},
		{"a five-minute buffer", time.Hour, 5 * time.Minute, 5 * time.Minute, 55 * time.Minute, 0},
		{"a short life cuts the buffer to half", 30 * time.Second, time.Minute, time.Minute, 15 * time.Second, 0},
		{"no buffer", time.Hour, bearer.NoBuffer, bearer.NoBuffer, time.Hour, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(tc.ttl, tc.cache)
			h := startWatch(t, f, tc.watch)
			h.expectSent("tok-1")
			h.expectWait(tc.wait)
			h.expectSent("tok-2")
			if _, forced := f.counts(); forced != tc.forced {
				t.Errorf("forced %d refreshes, want %d", forced, tc.forced)
			}
		})
	}
}

func TestWatcherEndsOnCancel(t *testing.T) {
	clock := &fakeClock{now: time.Now(), waits: make(chan fakeWait, 1)}
	f := newFake(time.Hour, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	w := watcher{p: f, clock: clock}
	done := make(chan error, 1)
	go func() { done <- w.run(ctx, "", func(*oauth2.Token) error { return nil }) }()
	<-clock.waits
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not end on cancel")
	}
}

// TestWatcherBacksOffWithTheCache: while the cache serves the due token
// again (its refresh failed, or it backs off after another process's
// failure), the watcher asks again after bearer's back-off, at most its
// cap, and never forces a refresh, which would ignore the back-off every
// process shares; a Retry-After the error gives sets the wait's floor.
// Once the cache has a new token, it is sent and the pacing is by expiry
// again.
func TestWatcherBacksOffWithTheCache(t *testing.T) {
	f := newFake(time.Hour, 5*time.Minute)
	h := startWatch(t, f, 5*time.Minute)
	h.expectSent("tok-1")
	f.setStale(true)
	h.expectWait(55 * time.Minute)
	retryAfter := time.Duration(0)
	for n := 1; n <= 8; n++ { // the waits reach the cap
		w := h.takeWaitIn(n, retryAfter)
		if w.d > bearer.BackoffCap {
			t.Fatalf("wait %v past the cap %v", w.d, bearer.BackoffCap)
		}
		retryAfter = 0
		switch n {
		case 3:
			// The cache fails instead, asking for a wait of its own.
			f.setErr("", retryAfterError{25 * time.Second})
			retryAfter = 25 * time.Second
		case 4:
			f.setErr("", nil)
		case 8:
			f.setStale(false)
		}
		h.fire(w, 0)
	}
	h.expectSent("tok-2")
	h.takeWait(55 * time.Minute)
	if minted, forced := f.counts(); minted != 2 || forced != 0 {
		t.Errorf("minted %d, forced %d refreshes; want 2 and 0", minted, forced)
	}
}

// TestWatcherWaitsForACacheWithAShorterBuffer: a cache whose buffer is
// shorter than the watcher's keeps serving the token the watcher finds
// due; the watcher backs off, forcing nothing, until the cache refreshes.
func TestWatcherWaitsForACacheWithAShorterBuffer(t *testing.T) {
	f := newFake(time.Hour, time.Minute)
	h := startWatch(t, f, 5*time.Minute)
	h.expectSent("tok-1")
	h.expectWait(55 * time.Minute)
	for n := 1; ; n++ {
		w := <-h.clock.waits
		if w.d == 55*time.Minute {
			break // tok-2's pacing
		}
		if lo, hi := bearer.BackoffSpan(n, 0); w.d < lo || w.d > hi || n > 30 {
			t.Fatalf("wait %d: %v, want %v to %v", n, w.d, lo, hi)
		}
		h.fire(w, 0)
	}
	h.expectSent("tok-2")
	if _, forced := f.counts(); forced != 0 {
		t.Errorf("forced %d refreshes, want none", forced)
	}
}

// retryAfterError is a transient failure asking for a wait.
type retryAfterError struct{ d time.Duration }

func (e retryAfterError) Error() string             { return "slow down: " + ErrUnavailable.Error() }
func (e retryAfterError) Unwrap() error             { return ErrUnavailable }
func (e retryAfterError) RetryAfter() time.Duration { return e.d }
