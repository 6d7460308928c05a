package keyring

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
)

// identitySource is a Cache of testAcct presenting id, over store.
func identitySource(up *countingSource, store Store, clock *stepClock, id Identity) *Cache {
	return NewCache(up, CacheConfig{Location: Location{Store: store}, Account: Account{Endpoint: testEndpoint, KeyID: testKeyID, Identity: id}, Now: clock.Now})
}

// TestCacheServesOnlyItsIdentity: an entry is served only to a caller
// presenting the identity that obtained it; another identity gets a miss
// and its own token, even when its refresh fails for a transient reason
// while the entry is still valid, and an identity that proves nothing is
// served nothing and caches nothing. The zero identity (a library caller's that sets none) is
// served any entry of the account, and the entries it writes are served to
// no caller presenting an identity.
func TestCacheServesOnlyItsIdentity(t *testing.T) {
	a, b := NewIdentity(testKey, "secret-a"), NewIdentity(testKey, "secret-b")
	cases := []struct {
		name      string
		filler    Identity // fills the cache first
		caller    Identity
		upErr     error
		serve     bool // the caller is served the filler's token
		wantErr   bool
		keepEntry bool // the filler's entry is still there after the call
	}{
		{name: "same identity", filler: a, caller: a, serve: true, keepEntry: true},
		{name: "another identity", filler: a, caller: b},
		{name: "another identity, transient failure", filler: a, caller: b, upErr: temporaryError{}, wantErr: true, keepEntry: true},
		{name: "another identity, rejected", filler: a, caller: b, upErr: dtError(auth.Rejected), wantErr: true, keepEntry: true},
		{name: "no identity", filler: a, caller: NoIdentity(), keepEntry: true},
		{name: "no identity, transient failure", filler: a, caller: NoIdentity(), upErr: temporaryError{}, wantErr: true, keepEntry: true},
		{name: "any identity, an identity's entry", filler: a, caller: Identity{}, serve: true, keepEntry: true},
		{name: "an identity, any identity's entry", filler: Identity{}, caller: a},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := NewFileStore(privateTempDir(t))
			clock := newStepClock(t0)
			first, err := identitySource(&countingSource{now: clock.Now}, store, clock, c.filler).TokenContext(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			filled, _ := store.Get(testKey)
			clock.Advance(10 * time.Minute)

			up := &countingSource{now: clock.Now, err: c.upErr}
			src := identitySource(up, store, clock, c.caller)
			tok, err := src.TokenContext(t.Context())
			switch {
			case c.wantErr && err == nil:
				t.Fatalf("served %q, want the upstream's error", tok.AccessToken)
			case !c.wantErr && err != nil:
				t.Fatal(err)
			case c.serve && (tok.AccessToken != first.AccessToken || up.Calls() != 0):
				t.Errorf("got %q after %d upstream calls; want the cached %q", tok.AccessToken, up.Calls(), first.AccessToken)
			case !c.serve && up.Calls() != 1:
				t.Errorf("%d upstream calls, want 1: the cached token is not this caller's", up.Calls())
			}
			after, _ := store.Get(testKey)
			if kept := string(after) == string(filled); kept != c.keepEntry {
				t.Errorf("the filler's entry kept: %v, want %v", kept, c.keepEntry)
			}
			if c.serve || c.wantErr {
				return
			}
			// The caller's own token, when it could cache it, is its own
			// next time.
			again, err := src.TokenContext(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if cached := again.AccessToken == tok.AccessToken && up.Calls() == 1; cached == c.caller.None() {
				t.Errorf("caller's second call: cached %v (%d upstream calls), want %v", cached, up.Calls(), !c.caller.None())
			}
		})
	}
}

// TestCachedNamesOtherIdentity: status (Cached) tells an entry another
// identity obtained from a missing one and from a valid one.
func TestCachedNamesOtherIdentity(t *testing.T) {
	store := NewFileStore(privateTempDir(t))
	clock := newStepClock(t0)
	a := NewIdentity(testKey, "secret-a")
	if _, err := identitySource(&countingSource{now: clock.Now}, store, clock, a).TokenContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		id    Identity
		other bool
	}{
		{"the same", a, false},
		{"another", NewIdentity(testKey, "secret-b"), true},
		{"none", NoIdentity(), true},
		{"any", Identity{}, false},
	} {
		_, err := identitySource(nil, store, clock, c.id).Cached(t.Context())
		if errors.Is(err, ErrOtherIdentity) != c.other || (!c.other && err != nil) {
			t.Errorf("%s identity: Cached: %v; want ErrOtherIdentity %v", c.name, err, c.other)
		}
	}
}

// TestNewIdentity: the digest depends on every part of the proof and on the
// cache key, cannot be confused by moving a separator, and shows nothing of
// the proof.
func TestNewIdentity(t *testing.T) {
	const secret = "s3cret-Value"
	base := NewIdentity(testKey, secret)
	if !isDigest(base.digest) || strings.Contains(base.digest, secret) {
		t.Fatalf("digest %q: want 64 lowercase hex characters, not the secret", base.digest)
	}
	if again := NewIdentity(testKey, secret); again != base {
		t.Error("the same proof gives another digest")
	}
	for name, other := range map[string]Identity{
		"another secret":        NewIdentity(testKey, secret+"x"),
		"another key":           NewIdentity(testKey+"0", secret),
		"parts split elsewhere": NewIdentity(testKey, "s3cret", "-Value"),
		"an empty part more":    NewIdentity(testKey, secret, ""),
		"no proof":              NewIdentity(testKey),
	} {
		if other.digest == base.digest {
			t.Errorf("%s: same digest", name)
		}
	}
	if base.None() || !NoIdentity().None() || (Identity{}).None() {
		t.Error("None: wrong answer")
	}
}

// TestEntryIdentityField: an entry records its identity's digest, and one
// whose identity field is not a digest is refused as corrupt.
func TestEntryIdentityField(t *testing.T) {
	id := NewIdentity(testKey, "secret-a")
	acct := testAcct
	acct.Identity = id
	e := NewEntry(&oauth2.Token{AccessToken: tokenPrefix + "a", TokenType: "Bearer", Expiry: t0.Add(time.Hour)}, acct, t0)
	got, err := DecodeEntry(e.Encode())
	if err != nil || got.Identity != id.digest || got.CheckFor(acct, t0) != nil {
		t.Fatalf("round trip: %v, identity %q; want %q served to its identity", err, got.Identity, id.digest)
	}
	for _, bad := range []string{"secret-a", strings.ToUpper(id.digest), id.digest[1:], id.digest + "0"} {
		e.Identity = bad
		if _, err := DecodeEntry(e.Encode()); err == nil {
			t.Errorf("identity %q: accepted", bad)
		}
	}
}
