package profile

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// nonceShape is a cache nonce as Save and SwitchKey make it: 128 random
// bits in hex.
var nonceShape = regexp.MustCompile(`^[0-9a-f]{32}$`)

// nonceOf is profile name's cache nonce in the profiles file, checked to be
// one Save makes and to be the one its account carries.
func (f *txFixture) nonceOf(t *testing.T, name, when string) string {
	t.Helper()
	p, ok := f.stored(t, name)
	if !ok {
		t.Fatalf("%s: profile %q is not stored", when, name)
	}
	if !nonceShape.MatchString(p.CacheNonce) {
		t.Errorf("%s: cache nonce %q, want 32 hex digits", when, p.CacheNonce)
	}
	f.repo = NewRepository(f.getenv, 0, nil) // read the profiles file afresh
	if a, err := f.repo.Account(name); err != nil || a.CacheNonce != p.CacheNonce {
		t.Errorf("%s: account's cache nonce %q (%v), want the profile's %q", when, a.CacheNonce, err, p.CacheNonce)
	}
	return p.CacheNonce
}

// TestCacheNonce: a DT profile's cache nonce, which its cached tokens are
// recorded under and served to, is new whenever its secret changes: at
// every Save with a secret (the same secret again included, and whatever
// nonce the caller passed), and at a rotation's switch of key; and only
// then: saving another profile and the rotation's other steps keep it. A
// Vault profile has none.
func TestCacheNonce(t *testing.T) {
	eachStore(t, func(t *testing.T, f *txFixture, where, name string) {
		ctx := t.Context()
		f.saved(t, name, where)
		first := f.nonceOf(t, name, "saved")

		p := dtProfile(where)
		p.CacheNonce = first
		if _, err := f.repo.Save(ctx, name, p, "the-secret", f.forget); err != nil {
			t.Fatal(err)
		}
		saved := f.nonceOf(t, name, "saved again")
		if saved == first {
			t.Error("saved again with the same secret and nonce: the nonce did not change")
		}
		other := uniqueProfile(t, f)
		f.saved(t, other, where)
		if f.nonceOf(t, other, "the other profile") == saved {
			t.Error("two profiles have the same nonce")
		}
		if got := f.nonceOf(t, name, "another profile saved"); got != saved {
			t.Errorf("saving another profile changed this one's nonce: %q, was %q", got, saved)
		}

		if err := f.repo.BeginRotation(ctx, name, "key-1", rotateOwner, []string{"key-1"}, rotateWindow); err != nil {
			t.Fatal(err)
		}
		if err := f.repo.StageKey(ctx, name, "key-1", "key-2", rotateNow.Add(time.Second), "new-secret"); err != nil {
			t.Fatal(err)
		}
		f.keySecret(t, where, name, "key-2") // removed afterwards
		if got := f.nonceOf(t, name, "staged"); got != saved {
			t.Errorf("a rotation's begin and stage changed the nonce: %q, was %q", got, saved)
		}
		if err := f.repo.SwitchKey(ctx, name, "key-1"); err != nil {
			t.Fatal(err)
		}
		switched := f.nonceOf(t, name, "switched")
		if switched == saved {
			t.Error("the rotation's switch of key kept the nonce")
		}
		if err := f.repo.EndRotation(ctx, name, "key-2"); err != nil {
			t.Fatal(err)
		}
		if got := f.nonceOf(t, name, "ended"); got != switched {
			t.Errorf("the rotation's end changed the nonce: %q, was %q", got, switched)
		}

		v := Profile{Vault: &vaultenv.Reference{Path: "dt/token/prod"}, CacheNonce: switched}
		if _, err := f.repo.Save(ctx, name, v, "", f.forget); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.stored(t, name); got.CacheNonce != "" {
			t.Errorf("a Vault profile has cache nonce %q, want none", got.CacheNonce)
		}
	})
}

// TestBadNonceSaysWhatToDo: a profiles file with a cache nonce this
// program did not make is refused with a way out that works (login and
// logout read the same file, and refuse it too).
func TestBadNonceSaysWhatToDo(t *testing.T) {
	_, err := Parse([]byte(`{"version":1,"profiles":{"p":{"key_id":"k","cache_nonce":"zz"}}}`), "profiles.json")
	if err == nil || !strings.Contains(err.Error(), "remove the cache_nonce member from the file") || strings.Contains(err.Error(), "log in again") {
		t.Errorf("Parse: %v; want it to say to remove the member, not to log in (which reads the same file)", err)
	}
}
