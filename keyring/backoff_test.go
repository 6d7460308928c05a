package keyring

import (
	"context"
	"errors"
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

// outageUpstream stands in for an identity service that is down: every
// call fails with err (or succeeds once err is nil), and each call's
// context is recorded, to check the budget and the single attempt the
// cache asks for.
type outageUpstream struct {
	now func() time.Time

	mu      sync.Mutex
	err     error
	calls   int
	single  []bool          // bearer.SingleAttempt of each call
	budgets []time.Duration // each call's deadline, from the call; 0 for none
}

func (u *outageUpstream) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls++
	var budget time.Duration
	if d, ok := ctx.Deadline(); ok {
		budget = time.Until(d)
	}
	u.single = append(u.single, bearer.SingleAttempt(ctx))
	u.budgets = append(u.budgets, budget)
	if u.err != nil {
		return nil, u.err
	}
	return &oauth2.Token{AccessToken: fmt.Sprintf("%snew-%d", tokenPrefix, u.calls), TokenType: "Bearer", Expiry: u.now().Add(time.Hour)}, nil
}

func (u *outageUpstream) setErr(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.err = err
}

func (u *outageUpstream) Calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls
}

// outage is a shared store with a token cached in it, and a way to make a
// Cache over it as a new process would (a Cache of its own, no memory of
// the others), all on one fake clock, over one upstream and one log.
type outage struct {
	clock *stepClock
	store Store
	up    *outageUpstream
	log   logCapture
}

func newOutage(t *testing.T, store Store, left time.Duration, err error) *outage {
	t.Helper()
	o := &outage{clock: newStepClock(t0), store: store}
	o.up = &outageUpstream{now: o.clock.Now, err: err}
	if left != 0 {
		if err := store.Set(testKey, []byte(entry(tokenPrefix+"cached", t0.Add(left)))); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

func (o *outage) process() *Cache {
	return NewCache(o.up, CacheConfig{Location: Location{Store: o.store}, Account: testAcct, Timeout: 30 * time.Second,
		Now: o.clock.Now, Log: o.log.Logger()})
}

// maxAttempts is the most attempts bearer's schedule allows in the first
// span of time, callers arriving every tick: each wait at its shortest.
func maxAttempts(span, tick time.Duration) int {
	n, at := 0, time.Duration(0)
	for at <= span {
		n++
		lo, _ := bearer.BackoffSpan(n, 0)
		at += max(lo, tick) // a caller comes at most every tick
	}
	return n
}

// minAttempts is the fewest: each wait at its longest, rounded up to the
// next caller.
func minAttempts(span, tick time.Duration) int {
	n, at := 0, time.Duration(0)
	for at <= span {
		n++
		_, hi := bearer.BackoffSpan(n, 0)
		at += (hi + tick - 1) / tick * tick
	}
	return n
}

// TestCacheOutageBacksOffTogether is the outage inside the refresh window:
// 32 processes (Caches over one store, as the command's are) each call
// once a second for 40 seconds while the token endpoint fails and the
// cached token has 50 seconds left. Every call is served the cached token,
// and the endpoint sees one attempt per step of the back-off, not one (or
// five) per call; the first failure warns, the rest are silent.
func TestCacheOutageBacksOffTogether(t *testing.T) {
	const (
		procs = 32
		span  = 40 * time.Second
	)
	o := newOutage(t, newTestMapStore(), 50*time.Second, dtError(auth.Transient))
	caches := make([]*Cache, procs)
	for i := range caches {
		caches[i] = o.process()
	}
	calls := 0
	for at := time.Duration(0); at <= span; at += time.Second {
		for _, c := range caches {
			tok, err := c.TokenContext(t.Context())
			if err != nil || tok.AccessToken != tokenPrefix+"cached" {
				t.Fatalf("at %v: got %v, %v; want the cached token", at, tok, err)
			}
			calls++
		}
		o.clock.Advance(time.Second)
	}
	got, lo, hi := o.up.Calls(), minAttempts(span, time.Second), maxAttempts(span, time.Second)
	t.Logf("%d calls from %d processes over %v: %d attempts (the schedule allows %d to %d)", calls, procs, span, got, lo, hi)
	if got < lo || got > hi {
		t.Errorf("%d attempts at the endpoint, want %d to %d: one per step of the back-off", got, lo, hi)
	}
	for i, single := range o.up.single {
		if !single || o.up.budgets[i] <= 0 || o.up.budgets[i] > bearer.CoveredBudget {
			t.Errorf("attempt %d: single attempt %v, budget %v; want a single attempt within %v", i+1, single, o.up.budgets[i], bearer.CoveredBudget)
		}
	}
	if w := o.log.warnings(); len(w) != 1 {
		t.Errorf("%d warnings, want 1 (the first failure):\n%s", len(w), strings.Join(w, "\n"))
	}
	if n := strings.Count(o.log.String(), "refreshing is backing off"); n != procs {
		t.Errorf("the back-off is said %d times in the debug log, want once per process (%d)", n, procs)
	}
	o.log.checkNoTokens(t)
}

// TestCacheOutageAfterExpiryFailsFast: with no valid token, the first
// caller makes a full attempt (the whole Timeout, retries allowed) and
// fails; the callers after it, in other processes, get the same failure at
// once, without asking the endpoint, until the back-off ends; then one
// asks again.
func TestCacheOutageAfterExpiryFailsFast(t *testing.T) {
	for _, tc := range []struct {
		name string
		left time.Duration // of the cached token; 0 for none
	}{
		{"an expired token", -time.Second},
		{"nothing cached", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failure := dtError(auth.Transient)
			o := newOutage(t, newTestMapStore(), tc.left, failure)
			_, err := o.process().TokenContext(t.Context())
			if !errors.Is(err, failure) {
				t.Fatalf("the first caller got %v, want the endpoint's failure", err)
			}
			if o.up.single[0] || o.up.budgets[0] < 29*time.Second {
				t.Errorf("the first caller's attempt: single %v, budget %v; want a full attempt with the 30s timeout", o.up.single[0], o.up.budgets[0])
			}
			for i := range 5 {
				o.clock.Advance(100 * time.Millisecond)
				_, err := o.process().TokenContext(t.Context())
				var be *BackoffError
				if !errors.As(err, &be) || !strings.HasPrefix(err.Error(), failure.Error()+" (at ") || !transient(err) {
					t.Fatalf("caller %d: got %v, want the same failure, at once, as a temporary *BackoffError", i+2, err)
				}
				if wait := bearer.RetryAfter(err); wait <= 0 || wait > bearer.BackoffCap {
					t.Errorf("caller %d: RetryAfter %v, want the rest of the back-off", i+2, wait)
				}
			}
			if n := o.up.Calls(); n != 1 {
				t.Errorf("%d attempts, want 1: the callers after the first must not ask", n)
			}
			o.clock.Advance(bearer.BackoffCap)
			o.up.setErr(nil)
			tok, err := o.process().TokenContext(t.Context())
			if err != nil || tok.AccessToken != tokenPrefix+"new-2" {
				t.Fatalf("after the back-off: got %v, %v; want a new token", tok, err)
			}
			if _, err := o.store.Get(testKey + backoffSuffix); !errors.Is(err, ErrNotFound) {
				t.Errorf("the back-off record outlived the successful refresh: %v", err)
			}
		})
	}
}

// TestCacheForcedRefreshIgnoresBackoff: --force-refresh asks the endpoint
// whatever the back-off says, with the whole Timeout, and a success ends
// the back-off for everyone.
func TestCacheForcedRefreshIgnoresBackoff(t *testing.T) {
	o := newOutage(t, newTestMapStore(), 50*time.Second, dtError(auth.Transient))
	if _, err := o.process().TokenContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	o.clock.Advance(100 * time.Millisecond)
	o.up.setErr(nil)
	if tok, err := o.process().TokenContext(t.Context()); err != nil || tok.AccessToken != tokenPrefix+"cached" || o.up.Calls() != 1 {
		t.Fatalf("inside the back-off: got %v, %v after %d attempts; want the cached token after 1", tok, err, o.up.Calls())
	}
	tok, err := o.process().Refresh(t.Context())
	if err != nil || tok.AccessToken != tokenPrefix+"new-2" {
		t.Fatalf("forced: got %v, %v; want a new token", tok, err)
	}
	if o.up.single[1] || o.up.budgets[1] < 29*time.Second {
		t.Errorf("the forced attempt: single %v, budget %v; want a full attempt", o.up.single[1], o.up.budgets[1])
	}
	if _, err := o.store.Get(testKey + backoffSuffix); !errors.Is(err, ErrNotFound) {
		t.Errorf("the back-off record outlived the successful refresh: %v", err)
	}
}

// TestCacheIgnoresImplausibleBackoff: a record this account's cache cannot
// believe (written by a clock since set back, waiting longer than the back-off
// allows, another account's, corrupt) holds nobody off: the caller asks.
func TestCacheIgnoresImplausibleBackoff(t *testing.T) {
	rec := func(failed, notBefore time.Duration, acct Account) string {
		b := bearer.Backoff{Failures: 3, Failed: t0.Add(failed), NotBefore: t0.Add(notBefore)}
		return string(newBackoffRecord(acct, b, errors.New("down")).encode())
	}
	for _, tc := range []struct {
		name   string
		record string
		holds  bool
	}{
		{"a believable record holds", rec(-time.Second, 10*time.Second, testAcct), true},
		{"written an hour in the future", rec(time.Hour, time.Hour+10*time.Second, testAcct), false},
		{"waiting longer than the cap", rec(-time.Second, bearer.BackoffCap+time.Minute, testAcct), false},
		{"another account's", rec(-time.Second, 10*time.Second, Account{Endpoint: testEndpoint, KeyID: "other"}), false},
		{"another version", strings.Replace(rec(-time.Second, 10*time.Second, testAcct), `"v":1`, `"v":9`, 1), false},
		{"not JSON", "\x00garbage", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutage(t, newTestMapStore(), -time.Second, nil)
			if err := o.store.Set(testKey+backoffSuffix, []byte(tc.record)); err != nil {
				t.Fatal(err)
			}
			_, err := o.process().TokenContext(t.Context())
			if held := err != nil; held != tc.holds || o.up.Calls() == 0 == !tc.holds {
				t.Errorf("got %v after %d attempts; want held off: %v", err, o.up.Calls(), tc.holds)
			}
		})
	}
}

// TestCacheBackoffHonoursRetryAfter: a 429 or 503 that asks for a wait
// sets the back-off's (up to bearer.BackoffCap), counted at the emulator.
func TestCacheBackoffHonoursRetryAfter(t *testing.T) {
	srv := authtest.NewServer(emulatorAccount)
	t.Cleanup(srv.Close)
	clock := newStepClock(time.Now().UTC().Truncate(time.Second))
	srv.SetClock(clock.Now)
	creds := emulatorCreds(srv.TokenURL())
	up, err := auth.NewSource(creds, auth.WithClock(clock.Now), auth.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	acct := Account{Endpoint: creds.TokenEndpoint, KeyID: creds.KeyID, Email: creds.Email}
	store := newTestMapStore()
	cached := NewEntry(&oauth2.Token{AccessToken: tokenPrefix + "cached", TokenType: "Bearer", Expiry: clock.Now().Add(55 * time.Second)}, acct, clock.Now().Add(-time.Hour))
	store.m[acct.Key()] = cached.Encode()
	newProcess := func() *Cache {
		return NewCache(up, CacheConfig{Location: Location{Store: store}, Account: acct, Now: clock.Now})
	}
	srv.InjectAlways(authtest.Fault{Status: 429, Body: `{"error":"slow_down"}`, RetryAfter: "20"})
	for at := time.Duration(0); at < 25*time.Second; at += time.Second {
		tok, err := newProcess().TokenContext(t.Context())
		if err != nil || tok.AccessToken != cached.AccessToken {
			t.Fatalf("at %v: got %v, %v; want the cached token", at, tok, err)
		}
		want := 1
		if at >= 20*time.Second {
			want = 2
		}
		if got := srv.Requests(); got != want {
			t.Fatalf("at %v: %d requests, want %d (one, and one more 20s later, as Retry-After says)", at, got, want)
		}
		clock.Advance(time.Second)
	}
}

// TestCacheCoveredRefreshWaitsOnlyTheBudget: a refresh covered by a valid
// token that finds another caller holding the lock for the whole budget
// serves the cached token, rather than wait out the lock.
func TestCacheCoveredRefreshWaitsOnlyTheBudget(t *testing.T) {
	dir := filepath.Join(privateTempDir(t), "cache")
	store := NewFileStore(dir)
	o := newOutage(t, store, 50*time.Second, nil)
	unlock, err := Lock(t.Context(), dir, testKey, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	c := NewCache(o.up, CacheConfig{Location: Location{Store: store, LockDir: dir}, Account: testAcct, Timeout: time.Minute,
		Now: o.clock.Now, Log: o.log.Logger()})
	tok, err := c.TokenContext(t.Context())
	if err != nil || tok.AccessToken != tokenPrefix+"cached" || o.up.Calls() != 0 {
		t.Fatalf("got %v, %v after %d attempts; want the cached token and no attempt", tok, err, o.up.Calls())
	}
	if !strings.Contains(o.log.String(), "another caller is refreshing") {
		t.Errorf("the log does not say why:\n%s", o.log.String())
	}
}

// TestCacheBackoffRecordIsPrivate: in the file store the record is a
// private file beside the entry, written as entries are.
func TestCacheBackoffRecordIsPrivate(t *testing.T) {
	dir := filepath.Join(privateTempDir(t), "cache")
	o := newOutage(t, NewFileStore(dir), 50*time.Second, dtError(auth.Transient))
	if _, err := o.process().TokenContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(dir, testKey+backoffSuffix))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Errorf("the back-off record is %v, want a regular file, 0600", fi.Mode())
	}
	data, err := os.ReadFile(filepath.Join(dir, testKey+backoffSuffix))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), tokenPrefix) {
		t.Errorf("the back-off record holds a token: %s", data)
	}
}
