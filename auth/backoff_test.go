package auth

import (
	"net/http"
	"testing"
	"time"
)

// The waits docs/reliability.md states: Retry-After as given (seconds or a
// date, capped at 30s), else backoff from 250ms doubling, half of it random.
func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"1", time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"3600", maxRetryAfter, true},
		{now.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second, true},
		{now.Add(time.Hour).Format(http.TimeFormat), time.Hour, true}, // capped by backoff()
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"-1", 0, false},
		{"abc", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := retryAfter(tt.v, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tt.v, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBackoff(t *testing.T) {
	s, err := NewSource(Credentials{KeyID: "k", Email: "e", Secret: "s", TokenEndpoint: DefaultTokenEndpoint})
	if err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	for n, bounds := range map[int][2]time.Duration{1: {125 * ms, 250 * ms}, 2: {250 * ms, 500 * ms}, 3: {500 * ms, time.Second}, 4: {time.Second, 2 * time.Second}, 10: {2 * time.Second, 4 * time.Second}} {
		for range 50 {
			if d := s.backoff(n, nil); d < bounds[0] || d > bounds[1] {
				t.Fatalf("backoff(%d) = %v, want within %v", n, d, bounds)
			}
		}
	}
	resp := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"3600"}}}
	if d := s.backoff(1, resp); d != maxRetryAfter {
		t.Errorf("backoff with Retry-After 3600 = %v, want the %v cap", d, maxRetryAfter)
	}
	resp.Header.Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	if d := s.backoff(1, resp); d != maxRetryAfter {
		t.Errorf("backoff with a Retry-After date an hour away = %v, want the %v cap", d, maxRetryAfter)
	}
	resp.Header.Set("Retry-After", "garbage")
	if d := s.backoff(1, resp); d < 125*ms || d > 250*ms {
		t.Errorf("backoff with a garbage Retry-After = %v, want the first backoff", d)
	}
}
