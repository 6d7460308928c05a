package authtest

import (
	"net/http"
	"testing"
	"time"
)

// TestDateFollowsClock: every answer's Date header is the Handler's clock,
// as a real server's is its own: a clock skewed with SetClock is what a
// client comparing clocks (dt-credential-helper doctor) sees.
func TestDateFollowsClock(t *testing.T) {
	s := NewServer(testAccount)
	t.Cleanup(s.Close)
	skewed := time.Now().Add(-7 * time.Minute).Truncate(time.Second)
	s.SetClock(func() time.Time { return skewed })
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, TokenPath}, // 405: the token endpoint wants POST
		{http.MethodPost, TokenPath},
		{http.MethodGet, "/v2/projects"},
		{http.MethodGet, "/elsewhere"},
	} {
		req, err := http.NewRequest(tc.method, s.URL+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got, err := http.ParseTime(resp.Header.Get("Date"))
		if err != nil || !got.Equal(skewed) {
			t.Errorf("%s %s: Date %q (%v), want the Handler's clock, %s", tc.method, tc.path, resp.Header.Get("Date"), err, skewed.UTC().Format(http.TimeFormat))
		}
	}
}
