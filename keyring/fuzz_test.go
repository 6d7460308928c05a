package keyring

import (
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// FuzzDecodeEntry: a cache entry from disk or the keyring is outside input.
// Decoding never panics; what it accepts has a token and an expiry, and
// encodes back to an entry that decodes the same.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(NewEntry(&oauth2.Token{AccessToken: "tok", TokenType: "Bearer", Expiry: time.Unix(1893456000, 0)}, Account{Endpoint: "https://x/t", KeyID: "k", Email: "e@x"}, time.Unix(1893456000-3600, 0)).Encode())
	f.Add([]byte(`{"v":2,"access_token":"x","expiry":"2030-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"v":1,"access_token":"x"}`))
	f.Add([]byte(`garbage`))
	f.Add([]byte(`{"v":2,"access_token":"a\r\nX: 1","token_type":"Bearer","expiry":"2030-01-01T01:00:00Z","obtained":"2030-01-01T00:00:00Z","lifetime":3600}`))
	f.Add([]byte(`{"v":2,"access_token":"x","expiry":"2099-01-01T00:00:00Z","obtained":"2030-01-01T00:00:00Z","lifetime":86400}`))
	f.Add([]byte(`{"v":2,"access_token":"x","expiry":"2030-01-01T00:00:00Z","obtained":"2030-01-01T00:00:00Z","lifetime":-1}`))
	f.Add([]byte(`{"v":3,"access_token":"x","expiry":"2030-01-01T01:00:00Z","obtained":"2030-01-01T00:00:00Z","lifetime":3600,"identity":"0123"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEntry(data)
		if err != nil {
			return
		}
		if e.AccessToken == "" || e.Expiry.IsZero() || e.Version != entryVersion || bearer.Check(e.AccessToken) != nil ||
			e.Lifetime <= 0 || e.LifetimeDuration() > bearer.MaxLifetime || e.Expiry.After(e.Obtained.Add(e.LifetimeDuration())) {
			t.Fatalf("accepted unusable entry %+v", e)
		}
		// Whatever it says of its times, it is never served for longer than
		// its lifetime (and the clock-step allowance) from now.
		now := e.Obtained
		if e.CheckFor(Account{Endpoint: e.Endpoint, KeyID: e.KeyID, Email: e.Email}, now) == nil && e.Expiry.Sub(now) > e.LifetimeDuration()+bearer.MaxClockStep {
			t.Fatalf("believed an expiry %v ahead with a lifetime of %ds", e.Expiry.Sub(now), e.Lifetime)
		}
		if e.CheckFor(Account{Endpoint: e.Endpoint + "x", KeyID: e.KeyID, Email: e.Email}, now) == nil {
			t.Fatalf("served to another account")
		}
		for _, id := range []Identity{NoIdentity(), NewIdentity("token-fuzz", "a proof no entry was written with")} {
			if e.CheckFor(Account{Endpoint: e.Endpoint, KeyID: e.KeyID, Email: e.Email, Identity: id}, now) == nil {
				t.Fatalf("served to an identity that did not obtain it")
			}
		}
		again, err := DecodeEntry(e.Encode())
		if err != nil || again.AccessToken != e.AccessToken || !again.Expiry.Equal(e.Expiry) {
			t.Fatalf("round trip: %+v, %v", again, err)
		}
	})
}
