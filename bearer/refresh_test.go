package bearer_test

import (
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

func TestBuffer(t *testing.T) {
	for _, tt := range []struct {
		name                 string
		configured, lifetime time.Duration
		want                 time.Duration
	}{
		{"zero is the default", 0, time.Hour, bearer.DefaultRefreshBuffer},
		{"NoBuffer is none", bearer.NoBuffer, time.Hour, 0},
		{"any negative is none", -time.Hour, time.Hour, 0},
		{"a buffer as configured", 5 * time.Minute, time.Hour, 5 * time.Minute},
		{"the default cut to half a short life", 0, 30 * time.Second, 15 * time.Second},
		{"a buffer cut to half the life", 10 * time.Minute, 10 * time.Minute, 5 * time.Minute},
		{"a buffer of exactly half the life", 30 * time.Minute, time.Hour, 30 * time.Minute},
		{"half a nanosecond is nothing", 0, time.Nanosecond, 0},
		{"an unknown lifetime cuts nothing", 0, 0, bearer.DefaultRefreshBuffer},
		{"a negative lifetime cuts nothing", 2 * time.Minute, -time.Second, 2 * time.Minute},
		{"none stays none for a short life", bearer.NoBuffer, time.Second, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := bearer.Buffer(tt.configured, tt.lifetime); got != tt.want {
				t.Errorf("Buffer(%v, %v) = %v, want %v", tt.configured, tt.lifetime, got, tt.want)
			}
		})
	}
}

func TestFreshAndDueAt(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		name                 string
		left                 time.Duration // of the token's life at now
		lifetime, configured time.Duration
		fresh                bool
	}{
		{"an hour's token with 61 s left", 61 * time.Second, time.Hour, 0, true},
		{"an hour's token with exactly the buffer left", time.Minute, time.Hour, 0, false},
		{"an hour's token with 59 s left", 59 * time.Second, time.Hour, 0, false},
		{"a 30 s token with 16 s left", 16 * time.Second, 30 * time.Second, 0, true},
		{"a 30 s token with 15 s left", 15 * time.Second, 30 * time.Second, 0, false},
		{"no buffer: a second left", time.Second, time.Hour, bearer.NoBuffer, true},
		{"no buffer: expired", 0, time.Hour, bearer.NoBuffer, false},
		{"expired long ago", -time.Hour, time.Hour, 0, false},
		{"a five-minute buffer with six left", 6 * time.Minute, time.Hour, 5 * time.Minute, true},
		{"a five-minute buffer with four left", 4 * time.Minute, time.Hour, 5 * time.Minute, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			expiry := now.Add(tt.left)
			if got := bearer.Fresh(expiry, tt.lifetime, tt.configured, now); got != tt.fresh {
				t.Errorf("Fresh = %v, want %v", got, tt.fresh)
			}
			// DueAt is the first moment Fresh is false.
			due := bearer.DueAt(expiry, tt.lifetime, tt.configured)
			if bearer.Fresh(expiry, tt.lifetime, tt.configured, due) || !bearer.Fresh(expiry, tt.lifetime, tt.configured, due.Add(-time.Nanosecond)) {
				t.Errorf("DueAt = %v (%v before expiry) is not where Fresh turns false", due, expiry.Sub(due))
			}
		})
	}
}
