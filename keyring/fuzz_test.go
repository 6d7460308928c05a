package keyring

import (
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// FuzzDecodeEntry: a cache entry from disk or the keyring is outside input.
// Decoding never panics; what it accepts has a token and an expiry, and
// encodes back to an entry that decodes the same.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(NewEntry(&oauth2.Token{AccessToken: "tok", TokenType: "Bearer", Expiry: time.Unix(1893456000, 0)}, "https://x/t", "k").Encode())
	f.Add([]byte(`{"v":2,"access_token":"x","expiry":"2030-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"v":1,"access_token":"x"}`))
	f.Add([]byte(`garbage`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEntry(data)
		if err != nil {
			return
		}
		if e.AccessToken == "" || e.Expiry.IsZero() || e.Version != entryVersion {
			t.Fatalf("accepted unusable entry %+v", e)
		}
		again, err := DecodeEntry(e.Encode())
		if err != nil || again.AccessToken != e.AccessToken || !again.Expiry.Equal(e.Expiry) {
			t.Fatalf("round trip: %+v, %v", again, err)
		}
	})
}
