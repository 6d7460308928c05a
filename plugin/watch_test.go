package plugin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
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

func TestWatcherPacing(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), waits: make(chan fakeWait)}
	f := newFake(time.Hour, time.Minute)
	f.now = clock.Now
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sent := make(chan *oauth2.Token, 10)
	done := make(chan error, 1)
	w := watcher{p: f, clock: clock}
	go func() {
		done <- w.run(ctx, "", func(tok *oauth2.Token) error { sent <- tok; return nil })
	}()

	// takeWait takes the watcher's next wait and checks it; fire lets that
	// much time pass. Between the two the watcher is parked, so the test
	// can change the fake Tokens without racing it.
	takeWait := func(want time.Duration) fakeWait {
		t.Helper()
		select {
		case w := <-clock.waits:
			if w.d != want {
				t.Fatalf("watcher waits %v, want %v", w.d, want)
			}
			return w
		case err := <-done:
			t.Fatalf("watcher ended early: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("watcher is not waiting")
		}
		return fakeWait{}
	}
	fire := func(w fakeWait) {
		clock.mu.Lock()
		clock.now = clock.now.Add(w.d)
		now := clock.now
		clock.mu.Unlock()
		w.fire <- now
	}
	expectWait := func(want time.Duration) {
		t.Helper()
		fire(takeWait(want))
	}
	expectSent := func(want string) {
		t.Helper()
		select {
		case tok := <-sent:
			if tok.AccessToken != want {
				t.Fatalf("sent %s, want %s", tok.AccessToken, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no token sent, want %s", want)
		}
	}

	expectSent("tok-1")
	// 45 of 60 minutes: the cache still serves tok-1, so the watcher forces.
	expectWait(45 * time.Minute)
	expectSent("tok-2")
	if _, forced := f.counts(); forced != 1 {
		t.Errorf("forced %d refreshes, want 1", forced)
	}

	// Another process refreshed the shared cache meanwhile: no forced
	// refresh. It did so at tok-2's start, so tok-3 has 15 minutes left.
	w45 := takeWait(45 * time.Minute)
	f.mint("")
	fire(w45)
	expectSent("tok-3")
	if _, forced := f.counts(); forced != 1 {
		t.Errorf("forced %d refreshes, want still 1", forced)
	}

	// Transient failures back off and keep the watch open.
	w15 := takeWait(15 * time.Minute * 3 / 4)
	f.setErr("", fmt.Errorf("connection refused: %w", ErrUnavailable))
	fire(w15)
	expectWait(1 * time.Second)
	expectWait(2 * time.Second)
	w4 := takeWait(4 * time.Second)
	f.setErr("", nil)
	fire(w4)
	expectSent("tok-4")
	// The new token's whole hour is left: back to pacing by expiry.
	w45 = takeWait(45 * time.Minute)
	f.setErr("", fmt.Errorf("token request: %w", ErrRejected))
	fire(w45)
	select {
	case err := <-done:
		if !errors.Is(err, ErrRejected) {
			t.Errorf("watcher ended with %v, want the rejection", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watcher did not stop on rejected credentials")
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

func TestWatcherBackoffIsBounded(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	var d time.Duration
	for i, w := range want {
		if d = nextBackoff(d); d != w {
			t.Fatalf("wait after failure %d = %v, want %v", i+1, d, w)
		}
	}
}
