package keyring

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// account is one side of TestCacheServesOnlyItsAccount.
type testAccount struct{ endpoint, keyID, email string }

func (a testAccount) key() string { return Key(a.endpoint, a.keyID, a.email) }

func (a testAccount) source(up *countingSource, store Store, clock *stepClock) *Cache {
	return NewCache(up, CacheConfig{Location: Location{Store: store}, Account: Account{Endpoint: a.endpoint, KeyID: a.keyID, Email: a.email}, Now: clock.Now})
}

// TestCacheServesOnlyItsAccount renames account A's cache file onto account
// B's name, as the owner of a shared cache directory could: B must not be
// served A's token, whichever part of the account differs.
func TestCacheServesOnlyItsAccount(t *testing.T) {
	a := testAccount{testEndpoint, testKeyID, "a@example.test"}
	for name, b := range map[string]testAccount{
		"endpoint": {"https://other.example.test/oauth2/token", a.keyID, a.email},
		"key id":   {a.endpoint, "kid-2", a.email},
		"email":    {a.endpoint, a.keyID, "b@example.test"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := privateTempDir(t)
			store := NewFileStore(dir)
			clock := newStepClock(t0)
			upA := &countingSource{now: clock.Now}
			tokA, err := a.source(upA, store, clock).TokenContext(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(dir, a.key()), filepath.Join(dir, b.key())); err != nil {
				t.Fatal(err)
			}
			upB := &countingSource{now: clock.Now}
			srcB := b.source(upB, store, clock)
			// Both upstreams name their first token alike: the upstream call
			// tells B's token from A's.
			tokB, err := srcB.TokenContext(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if upB.Calls() != 1 {
				t.Fatalf("B was served A's token %q (%d upstream calls)", tokA.AccessToken, upB.Calls())
			}
			// The foreign entry was replaced with B's own, which is served.
			again, err := srcB.TokenContext(t.Context())
			if err != nil || again.AccessToken != tokB.AccessToken || upB.Calls() != 1 {
				t.Errorf("B's own entry was not served: %v, %d upstream calls", err, upB.Calls())
			}
		})
	}
}

// plantEntry stores raw under testKey in a fresh map store.
func plantedSource(t *testing.T, raw string, clock *stepClock) (*Cache, *countingSource, *testMapStore) {
	t.Helper()
	store := newTestMapStore()
	store.m[testKey] = []byte(raw)
	up := &countingSource{now: clock.Now}
	return NewCache(up, CacheConfig{Location: Location{Store: store}, Account: testAcct, Now: clock.Now}), up, store
}

// TestCacheDistrustsFarExpiry: an entry whose expiry lies further ahead than
// a token's lifetime allows (written by a clock that was far ahead, then
// corrected) is a miss, not a token served until 2099.
func TestCacheDistrustsFarExpiry(t *testing.T) {
	clock := newStepClock(t0)
	far := string(NewEntry(&oauth2.Token{AccessToken: tokenPrefix + "far", TokenType: "Bearer", Expiry: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)}, testAcct, time.Date(2098, 12, 31, 23, 0, 0, 0, time.UTC)).Encode())
	src, up, store := plantedSource(t, far, clock)
	tok, err := src.TokenContext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == tokenPrefix+"far" || up.Calls() != 1 {
		t.Fatalf("the 2099 entry was served (%d upstream calls)", up.Calls())
	}
	if strings.Contains(store.raw(), "2099") {
		t.Errorf("the 2099 entry was not replaced")
	}
}

// TestCacheRefusesBadCachedToken: a cached token that the exchange would
// have refused (a header injection) is a miss and is replaced.
func TestCacheRefusesBadCachedToken(t *testing.T) {
	clock := newStepClock(t0)
	bad := string(NewEntry(&oauth2.Token{AccessToken: "abc\r\nX-Injected: 1", TokenType: "Bearer", Expiry: t0.Add(30 * time.Minute)}, testAcct, t0.Add(-30*time.Minute)).Encode())
	src, up, _ := plantedSource(t, bad, clock)
	tok, err := src.TokenContext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(tok.AccessToken, "\r\n") || up.Calls() != 1 {
		t.Fatalf("the cached token with CRLF was served (%d upstream calls)", up.Calls())
	}
}

// TestCacheShortLivedTokens: a server granting 30 s tokens against the
// default 60 s buffer. The buffer is cut to half the token's life, so 8
// concurrent callers make one request, and later calls are served from the
// cache until half the life is gone. The real exchange runs against the
// emulator, through the file store and lock files.
func TestCacheShortLivedTokens(t *testing.T) {
	srv := authtest.NewServer(emulatorAccount)
	t.Cleanup(srv.Close)
	srv.SetTokenTTL(30 * time.Second)
	clock := newStepClock(time.Now().UTC().Truncate(time.Second))
	srv.SetClock(clock.Now)
	creds := emulatorCreds(srv.TokenURL())
	up, err := auth.NewSource(creds, auth.WithClock(clock.Now), auth.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(privateTempDir(t), "cache")
	var log logCapture
	src := NewCache(up, CacheConfig{Location: Location{Store: NewFileStore(dir), LockDir: dir}, Account: Account{Endpoint: creds.TokenEndpoint, KeyID: creds.KeyID, Email: creds.Email}, Now: clock.Now, Log: log.Logger()})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := src.TokenContext(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := srv.Requests(); n != 1 {
		t.Errorf("8 parallel calls made %d token requests, want 1", n)
	}
	clock.Advance(14 * time.Second) // 16 s left of 30
	if _, err := src.TokenContext(t.Context()); err != nil || srv.Requests() != 1 {
		t.Errorf("with 16 s of 30 left: %v, %d requests; want the cached token", err, srv.Requests())
	}
	clock.Advance(time.Second) // 15 s left: half the life
	if _, err := src.TokenContext(t.Context()); err != nil || srv.Requests() != 2 {
		t.Errorf("with 15 s of 30 left: %v, %d requests; want a refresh", err, srv.Requests())
	}
	if n := strings.Count(log.String(), "refresh buffer clamped"); n != 1 {
		t.Errorf("the log says %d times that the buffer was clamped, want once:\n%s", n, log.String())
	}
	checkLogClean(t, log.String(), srv)
}

// TestEntryChecks: what DecodeEntry and CheckFor accept of an entry's
// token, times and account.
func TestEntryChecks(t *testing.T) {
	now := t0
	good := func() Entry {
		return NewEntry(&oauth2.Token{AccessToken: "tok", TokenType: "Bearer", Expiry: now.Add(30 * time.Minute)}, testAcct, now.Add(-30*time.Minute))
	}
	for _, c := range []struct {
		name   string
		change func(*Entry)
		acct   Account
		decode bool // DecodeEntry accepts it
		serve  bool // CheckFor accepts it
	}{
		{"as written", func(*Entry) {}, testAcct, true, true},
		{"another endpoint", func(*Entry) {}, Account{Endpoint: "https://other.example.test/t", KeyID: testKeyID}, true, false},
		{"another key id", func(*Entry) {}, Account{Endpoint: testEndpoint, KeyID: "kid-2"}, true, false},
		{"another email", func(*Entry) {}, Account{Endpoint: testEndpoint, KeyID: testKeyID, Email: "b@example.test"}, true, false},
		{"obtained a little ahead (clock set back 30s)", func(e *Entry) { shift(e, 30*time.Minute+30*time.Second) }, testAcct, true, true},
		{"obtained MaxClockStep ahead", func(e *Entry) { shift(e, 30*time.Minute+bearer.MaxClockStep) }, testAcct, true, true},
		{"obtained more than MaxClockStep ahead", func(e *Entry) { shift(e, 30*time.Minute+bearer.MaxClockStep+time.Second) }, testAcct, true, false},
		{"obtained years ahead", func(e *Entry) { shift(e, 73*365*24*time.Hour) }, testAcct, true, false},
		{"expiry beyond obtained+lifetime", func(e *Entry) { e.Expiry = e.Expiry.Add(time.Second) }, testAcct, false, false},
		{"lifetime over a day", func(e *Entry) { e.Lifetime = 86401 }, testAcct, false, false},
		{"lifetime zero", func(e *Entry) { e.Lifetime = 0 }, testAcct, false, false},
		{"no obtained time", func(e *Entry) { e.Obtained = time.Time{} }, testAcct, false, false},
		{"token with CRLF", func(e *Entry) { e.AccessToken = "abc\r\nX-Injected: 1" }, testAcct, false, false},
		{"token over the limit", func(e *Entry) { e.AccessToken = strings.Repeat("a", bearer.MaxSize+1) }, testAcct, false, false},
		{"token at the limit", func(e *Entry) { e.AccessToken = strings.Repeat("a", bearer.MaxSize) }, testAcct, true, true},
		{"mac token type", func(e *Entry) { e.TokenType = "mac" }, testAcct, false, false},
		{"version 1", func(e *Entry) { e.Version = 1 }, testAcct, false, false},
		{"long email", func(e *Entry) { e.Email = strings.Repeat("e", maxAccountField+1) }, Account{}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := good()
			c.change(&e)
			data := e.Encode()
			got, err := DecodeEntry(data)
			if (err == nil) != c.decode {
				t.Fatalf("DecodeEntry: %v, want accepted %v", err, c.decode)
			}
			if err != nil {
				if strings.Contains(err.Error(), e.AccessToken) && len(e.AccessToken) > 3 {
					t.Errorf("the error quotes the token")
				}
				return
			}
			if err := got.CheckFor(c.acct, now); (err == nil) != c.serve {
				t.Errorf("CheckFor: %v, want accepted %v", err, c.serve)
			}
		})
	}
}

// shift moves e's times d ahead, as a clock ahead by d would have written them.
func shift(e *Entry, d time.Duration) {
	e.Obtained = e.Obtained.Add(d)
	e.Expiry = e.Expiry.Add(d)
}

// TestLargestEntryReadsBack: the longest token the exchange accepts, with
// the longest account fields an entry takes, all escaped by JSON where they
// can be, and an identity digest, makes an entry that each store writes and reads back. Today a
// token that did not fit was written and never read back, so every call
// refreshed.
func TestLargestEntryReadsBack(t *testing.T) {
	// Control characters and '<' are escaped as \u00XX by encoding/json: 6
	// bytes each, the worst case.
	field := strings.Repeat("\x01<", maxAccountField/2)
	acct := Account{Endpoint: field, KeyID: field, Email: field, Identity: NewIdentity(testKey, "secret")}
	tok := strings.Repeat("A", bearer.MaxSize-2) + "=="
	e := NewEntry(&oauth2.Token{AccessToken: tok, TokenType: "Bearer", Expiry: t0.Add(time.Hour)}, acct, t0)
	if err := e.Check(); err != nil {
		t.Fatal(err)
	}
	data := e.Encode()
	if len(data) > maxEncodedEntry || len(data) > MaxEntrySize {
		t.Fatalf("the largest entry is %d bytes, over the %d the stores read", len(data), MaxEntrySize)
	}
	stores := map[string]Store{"file": NewFileStore(filepath.Join(privateTempDir(t), "cache"))}
	if os.Getenv("DT_TEST_SECRET_SERVICE") == "1" {
		stores["keyring"] = NewOSStore(0)
	} else {
		t.Log("the Secret Service is not tried: run under scripts/keyring-session.sh")
	}
	for name, store := range stores {
		t.Run(name, func(t *testing.T) {
			key := fmt.Sprintf("token-largest-%d-%d", os.Getpid(), time.Now().UnixNano())
			if err := store.Set(key, data); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { store.Delete(key) })
			back, err := store.Get(key)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeEntry(back)
			if err != nil || got.AccessToken != tok || got.CheckFor(acct, t0) != nil {
				t.Errorf("read back: %v", err)
			}
		})
	}
}
