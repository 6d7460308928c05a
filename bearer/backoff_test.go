package bearer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

func TestBackoffSpan(t *testing.T) {
	for _, tt := range []struct {
		name       string
		n          int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{"the first failure", 1, 0, 500 * time.Millisecond, time.Second},
		{"the second doubles", 2, 0, time.Second, 2 * time.Second},
		{"the fifth", 5, 0, 8 * time.Second, 16 * time.Second},
		{"the sixth reaches the cap", 6, 0, 15 * time.Second, 30 * time.Second},
		{"many more stay at the cap", 1000, 0, 15 * time.Second, 30 * time.Second},
		{"zero counts as the first", 0, 0, 500 * time.Millisecond, time.Second},
		{"a Retry-After longer than the span is waited", 1, 7 * time.Second, 7 * time.Second, 7 * time.Second},
		{"a Retry-After inside the span raises its floor", 3, 3 * time.Second, 3 * time.Second, 4 * time.Second},
		{"a Retry-After shorter than the span changes nothing", 3, time.Second, 2 * time.Second, 4 * time.Second},
		{"a Retry-After past the cap is capped", 1, time.Hour, 30 * time.Second, 30 * time.Second},
		{"a negative Retry-After is none", 2, -time.Second, time.Second, 2 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi := bearer.BackoffSpan(tt.n, tt.retryAfter)
			if lo != tt.lo || hi != tt.hi {
				t.Errorf("BackoffSpan(%d, %v) = %v, %v; want %v, %v", tt.n, tt.retryAfter, lo, hi, tt.lo, tt.hi)
			}
			seen := map[time.Duration]bool{}
			for range 200 {
				d := bearer.BackoffDelay(tt.n, tt.retryAfter)
				if d < lo || d > hi {
					t.Fatalf("BackoffDelay(%d, %v) = %v, outside %v to %v", tt.n, tt.retryAfter, d, lo, hi)
				}
				seen[d] = true
			}
			if lo != hi && len(seen) < 10 {
				t.Errorf("BackoffDelay(%d, %v) took only %d values in 200 draws: no jitter", tt.n, tt.retryAfter, len(seen))
			}
		})
	}
}

func TestBackoffNext(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	inSpan := func(t *testing.T, b bearer.Backoff, n int, retryAfter time.Duration) {
		t.Helper()
		lo, hi := bearer.BackoffSpan(n, retryAfter)
		if b.Failures != n || !b.Failed.Equal(now) || b.NotBefore.Before(now.Add(lo)) || b.NotBefore.After(now.Add(hi)) {
			t.Errorf("Next = %+v, want failure %d at %v, not before %v to %v later", b, n, now, lo, hi)
		}
	}
	t.Run("the first failure", func(t *testing.T) {
		inSpan(t, bearer.Backoff{}.Next(now, 0, time.Time{}), 1, 0)
	})
	t.Run("a failure in a row doubles", func(t *testing.T) {
		prev := bearer.Backoff{Failures: 3, Failed: now.Add(-5 * time.Second), NotBefore: now.Add(-time.Second)}
		inSpan(t, prev.Next(now, 0, time.Time{}), 4, 0)
	})
	t.Run("a failure long after the last wait starts again", func(t *testing.T) {
		prev := bearer.Backoff{Failures: 6, Failed: now.Add(-time.Hour), NotBefore: now.Add(-time.Hour + 20*time.Second)}
		inSpan(t, prev.Next(now, 0, time.Time{}), 1, 0)
	})
	t.Run("an implausible record starts again", func(t *testing.T) {
		prev := bearer.Backoff{Failures: 6, Failed: now.Add(time.Hour), NotBefore: now.Add(time.Hour + 20*time.Second)}
		inSpan(t, prev.Next(now, 0, time.Time{}), 1, 0)
	})
	t.Run("Retry-After", func(t *testing.T) {
		inSpan(t, bearer.Backoff{}.Next(now, 20*time.Second, time.Time{}), 1, 20*time.Second)
	})
	t.Run("the wait ends when the token served meanwhile expires", func(t *testing.T) {
		valid := now.Add(300 * time.Millisecond)
		b := bearer.Backoff{}.Next(now, 20*time.Second, valid)
		if !b.NotBefore.Equal(valid) {
			t.Errorf("NotBefore = %v, want the token's expiry %v", b.NotBefore, valid)
		}
	})
}

func TestBackoffHolds(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		name              string
		failed, notBefore time.Duration // from now
		holds, plausible  bool
	}{
		{"a wait under way", -time.Second, 5 * time.Second, true, true},
		{"a wait ended", -10 * time.Second, -time.Second, false, true},
		{"ending now", -time.Second, 0, false, true},
		{"written a little in the future (a small step)", 10 * time.Second, 15 * time.Second, true, true},
		{"written in the future (the clock was set back)", 2 * time.Minute, 2*time.Minute + time.Second, false, false},
		{"a wait longer than the cap", 0, bearer.BackoffCap + time.Second, false, false},
		{"further ahead than the cap allows from now", 50 * time.Second, 50*time.Second + 25*time.Second, false, false},
		{"not before its failure", 0, -time.Second, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := bearer.Backoff{Failures: 2, Failed: now.Add(tt.failed), NotBefore: now.Add(tt.notBefore)}
			if got := b.Plausible(now); got != tt.plausible {
				t.Errorf("Plausible = %v, want %v", got, tt.plausible)
			}
			if got := b.Holds(now); got != tt.holds {
				t.Errorf("Holds = %v, want %v", got, tt.holds)
			}
		})
	}
	if (bearer.Backoff{}).Holds(now) {
		t.Error("the zero Backoff holds")
	}
}

type retryAfterError time.Duration

func (e retryAfterError) Error() string             { return "slow down" }
func (e retryAfterError) RetryAfter() time.Duration { return time.Duration(e) }

func TestRetryAfter(t *testing.T) {
	if got := bearer.RetryAfter(fmt.Errorf("wrapped: %w", retryAfterError(3*time.Second))); got != 3*time.Second {
		t.Errorf("RetryAfter of a wrapped error = %v, want 3s", got)
	}
	if got := bearer.RetryAfter(retryAfterError(-time.Second)); got != 0 {
		t.Errorf("RetryAfter of a negative wait = %v, want 0", got)
	}
	if got := bearer.RetryAfter(fmt.Errorf("plain")); got != 0 {
		t.Errorf("RetryAfter of an error without one = %v, want 0", got)
	}
}

func TestSingleAttempt(t *testing.T) {
	ctx := context.Background()
	if bearer.SingleAttempt(ctx) {
		t.Error("a plain context asks for a single attempt")
	}
	if !bearer.SingleAttempt(bearer.WithSingleAttempt(ctx)) {
		t.Error("a marked context does not ask for a single attempt")
	}
}
