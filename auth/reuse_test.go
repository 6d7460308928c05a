package auth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// countingSource stands in for the DT exchange (tested against the emulator
// in source_test.go): it mints tokens that live ttl on the fake clock.
type countingSource struct {
	mu    sync.Mutex
	calls int
	now   func() time.Time
	ttl   time.Duration
}

func (c *countingSource) Token() (*oauth2.Token, error) { return c.TokenContext(context.Background()) }

func (c *countingSource) TokenContext(context.Context) (*oauth2.Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	return &oauth2.Token{AccessToken: "tok-" + string(rune('a'+c.calls)), Expiry: c.now().Add(c.ttl)}, nil
}

func TestReuseSourceRefreshBuffer(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	up := &countingSource{now: clock, ttl: time.Hour}
	r := auth.NewReuseSource(up, time.Minute).WithClock(clock)

	steps := []struct {
		advance time.Duration
		calls   int
	}{
		{0, 1},                // first call fetches
		{30 * time.Minute, 1}, // 30 min left: reused
		{28 * time.Minute, 1}, // 2 min left: reused
		{59 * time.Second, 1}, // 61 s left: reused
		{2 * time.Second, 2},  // 59 s left: within the buffer, refreshed
		{time.Second, 2},      // the new token is reused
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if _, err := r.Token(); err != nil {
			t.Fatal(err)
		}
		if up.calls != s.calls {
			t.Errorf("step %d: %d upstream calls, want %d", i, up.calls, s.calls)
		}
	}
	tok, _ := r.Token()
	r.Invalidate("not-this-one")
	if _, _ = r.Token(); up.calls != 2 {
		t.Errorf("invalidating another token refreshed")
	}
	r.Invalidate(tok.AccessToken)
	if _, _ = r.Token(); up.calls != 3 {
		t.Errorf("invalidating the token did not refresh: %d calls", up.calls)
	}
}

func TestReuseSourceConcurrent(t *testing.T) {
	up := &countingSource{now: time.Now, ttl: time.Hour}
	r := auth.NewReuseSource(up, time.Minute)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.Token(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if up.calls != 1 {
		t.Errorf("%d upstream calls, want 1", up.calls)
	}
}

// A server granting tokens shorter-lived than the refresh buffer (30 s
// against the default 60 s) must not make every call refresh: the buffer is
// cut to half the token's life. The emulator stands in for DT.
func TestReuseSourceShortLivedTokens(t *testing.T) {
	acct := authtest.Account{KeyID: "key-short", Email: "short@example.test", Secret: "short-lived-secret"}
	srv := authtest.NewServer(acct)
	defer srv.Close()
	srv.SetTokenTTL(30 * time.Second)
	src, err := auth.NewSource(auth.Credentials{KeyID: acct.KeyID, Email: acct.Email, Secret: acct.Secret, TokenEndpoint: srv.TokenURL()},
		auth.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	r := auth.NewReuseSource(src, 0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := r.Token(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := srv.Requests(); n != 1 {
		t.Errorf("8 parallel calls made %d token requests, want 1", n)
	}
}

// The clamped buffer still refreshes a short-lived token before it expires:
// at half its life.
func TestReuseSourceClampedBuffer(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	up := &countingSource{now: clock, ttl: 30 * time.Second}
	r := auth.NewReuseSource(up, time.Minute).WithClock(clock)
	for i, s := range []struct {
		advance time.Duration
		calls   int
	}{
		{0, 1},
		{14 * time.Second, 1}, // 16s left, more than half of 30s: reused
		{time.Second, 2},      // 15s left: refreshed
		{10 * time.Second, 2},
	} {
		now = now.Add(s.advance)
		if _, err := r.Token(); err != nil {
			t.Fatal(err)
		}
		if up.calls != s.calls {
			t.Errorf("step %d: %d upstream calls, want %d", i, up.calls, s.calls)
		}
	}
}

// The buffer follows bearer's convention, as every config of the module
// does: zero is the default buffer, bearer.NoBuffer none.
func TestReuseSourceBufferConvention(t *testing.T) {
	for _, tt := range []struct {
		name   string
		buffer time.Duration
		left   time.Duration // at the second call
		calls  int
	}{
		{"zero: the default buffer, 61 s left", 0, 61 * time.Second, 1},
		{"zero: the default buffer, 59 s left", 0, 59 * time.Second, 2},
		{"NoBuffer: a second left", bearer.NoBuffer, time.Second, 1},
		{"NoBuffer: expired", bearer.NoBuffer, 0, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			up := &countingSource{now: clock, ttl: time.Hour}
			r := auth.NewReuseSource(up, tt.buffer).WithClock(clock)
			if _, err := r.Token(); err != nil {
				t.Fatal(err)
			}
			now = now.Add(time.Hour - tt.left)
			if _, err := r.Token(); err != nil {
				t.Fatal(err)
			}
			if up.calls != tt.calls {
				t.Errorf("%d upstream calls, want %d", up.calls, tt.calls)
			}
		})
	}
}
