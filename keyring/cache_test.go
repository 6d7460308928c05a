package keyring

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/bearer"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

// testKey is testAcct's key, where its entries are stored.
var testKey = Key(testEndpoint, testKeyID, "")

const (
	testEndpoint = "https://identity.example.test/oauth2/token"
	testKeyID    = "kid-1"
	// Every access token in these tests starts with tokenPrefix, so a log
	// can be checked for leaked tokens with one Contains.
	tokenPrefix = "AT-"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// stepClock is the injected clock: it moves only when a test says so.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func newStepClock(t time.Time) *stepClock { return &stepClock{t: t} }

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// countingSource stands in for the DT exchange (auth.Source, which is tested
// in auth/ against the emulator): here only how often the cache calls it and
// what it answers matter. Tokens are AT-new-1, AT-new-2, ... valid for ttl
// (default one hour) from the clock's now.
type countingSource struct {
	now   func() time.Time
	ttl   time.Duration
	err   error         // returned by every call when set
	delay time.Duration // real time per call, to let callers pile up

	mu    sync.Mutex
	calls int
}

func (c *countingSource) Token() (*oauth2.Token, error) { return c.TokenContext(context.Background()) }

func (c *countingSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	c.mu.Lock()
	c.calls++
	n := c.calls
	c.mu.Unlock()
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	if c.err != nil {
		return nil, c.err
	}
	ttl := c.ttl
	if ttl == 0 {
		ttl = time.Hour
	}
	return &oauth2.Token{AccessToken: fmt.Sprintf("%snew-%d", tokenPrefix, n), TokenType: "Bearer", Expiry: c.now().Add(ttl)}, nil
}

func (c *countingSource) Calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// testMapStore is an in-memory stand-in for the keyring and file stores,
// which have tests of their own; it can fail reads and writes on demand.
type testMapStore struct {
	mu      sync.Mutex
	m       map[string][]byte
	getErr  error
	setErr  error
	setHits int
}

func newTestMapStore() *testMapStore { return &testMapStore{m: make(map[string][]byte)} }

func (s *testMapStore) Get(key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.getErr != nil {
		return nil, s.getErr
	}
	b, ok := s.m[key]
	if !ok {
		return nil, fmt.Errorf("key %s: %w", key, ErrNotFound)
	}
	return bytes.Clone(b), nil
}

func (s *testMapStore) Set(key string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setHits++
	if s.setErr != nil {
		return s.setErr
	}
	s.m[key] = bytes.Clone(data)
	return nil
}

func (s *testMapStore) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

func (s *testMapStore) Name() string { return "memory" }

// raw returns what is stored under testKey, "" for nothing.
func (s *testMapStore) raw() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.m[testKey])
}

// testAcct is the account of the entries these tests store.
var testAcct = Account{Endpoint: testEndpoint, KeyID: testKeyID}

// entry is the stored form of a token as the Cache writes it, for a token
// obtained an hour before its expiry.
func entry(tok string, expiry time.Time) string {
	return entryObtained(tok, expiry.Add(-time.Hour), expiry)
}

// entryObtained is the stored form of a token obtained at obtained.
func entryObtained(tok string, obtained, expiry time.Time) string {
	return string(NewEntry(&oauth2.Token{AccessToken: tok, TokenType: "Bearer", Expiry: expiry}, testAcct, obtained).Encode())
}

// logCapture is a debug-level slog logger writing text to a buffer.
type logCapture struct {
	testutil.Buffer
}

func (l *logCapture) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// warnings returns the WARN records.
func (l *logCapture) warnings() []string {
	var w []string
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, "level=WARN") {
			w = append(w, line)
		}
	}
	return w
}

// checkNoTokens fails if the log holds any access token.
func (l *logCapture) checkNoTokens(t *testing.T) {
	t.Helper()
	if s := l.String(); strings.Contains(s, tokenPrefix) {
		t.Errorf("log contains an access token:\n%s", s)
	}
}

// temporaryError is a failure from a non-DT source that says it is
// temporary the net.Error way.
type temporaryError struct{}

func (temporaryError) Error() string   { return "connection reset" }
func (temporaryError) Temporary() bool { return true }

func dtError(kind auth.Kind) error {
	return &auth.Error{Kind: kind, Endpoint: testEndpoint, KeyID: testKeyID, Err: errors.New("simulated " + kind.String())}
}

// sourceCase describes one call on a Cache over a prepared cache.
type sourceCase struct {
	name    string
	stored  string // the entry before the call; "" for none
	getErr  error
	setErr  error
	upErr   error
	upTTL   time.Duration
	wantTok string // "" when an error is wanted
	wantErr error  // checked with errors.Is
	calls   int
	warns   int
	after   string // the entry after the call
	logHas  string // a substring the debug log must have
}

func runSourceCase(t *testing.T, c sourceCase, call func(*Cache, context.Context) (*oauth2.Token, error)) {
	t.Helper()
	clock := newStepClock(t0)
	store := newTestMapStore()
	if c.stored != "" {
		store.m[testKey] = []byte(c.stored)
	}
	store.getErr, store.setErr = c.getErr, c.setErr
	up := &countingSource{now: clock.Now, ttl: c.upTTL, err: c.upErr}
	var log logCapture
	src := NewCache(up, CacheConfig{Location: Location{Store: store}, Account: testAcct, Now: clock.Now, Log: log.Logger()})

	tok, err := call(src, t.Context())

	if c.wantErr != nil {
		if !errors.Is(err, c.wantErr) {
			t.Errorf("error: got %v, want %v", err, c.wantErr)
		}
		if tok != nil {
			t.Errorf("got a token with the error")
		}
	} else if err != nil {
		t.Errorf("unexpected error: %v", err)
	} else if diff := cmp.Diff(c.wantTok, tok.AccessToken); diff != "" {
		t.Errorf("token (-want +got):\n%s", diff)
	}
	if got := up.Calls(); got != c.calls {
		t.Errorf("upstream calls: got %d, want %d", got, c.calls)
	}
	if got := len(log.warnings()); got != c.warns {
		t.Errorf("warnings: got %d, want %d:\n%s", got, c.warns, log.String())
	}
	store.getErr = nil
	if diff := cmp.Diff(c.after, store.raw()); diff != "" {
		t.Errorf("stored entry (-want +got):\n%s", diff)
	}
	if c.logHas != "" && !strings.Contains(log.String(), c.logHas) {
		t.Errorf("log lacks %q:\n%s", c.logHas, log.String())
	}
	log.checkNoTokens(t)
}

func TestCacheTokenContext(t *testing.T) {
	fresh := entry(tokenPrefix+"cached", t0.Add(10*time.Minute))
	inBuffer := entry(tokenPrefix+"cached", t0.Add(30*time.Second))
	atBuffer := entry(tokenPrefix+"cached", t0.Add(bearer.DefaultRefreshBuffer))
	expired := entry(tokenPrefix+"cached", t0.Add(-time.Second))
	refreshed := entry(tokenPrefix+"new-1", t0.Add(time.Hour))
	transient, rejected, bad := dtError(auth.Transient), dtError(auth.Rejected), dtError(auth.BadResponse)

	for _, c := range []sourceCase{
		{name: "fresh entry is served without upstream", stored: fresh, wantTok: tokenPrefix + "cached", after: fresh},
		{name: "miss refreshes and caches", wantTok: tokenPrefix + "new-1", calls: 1, after: refreshed, logHas: "cache miss"},
		{name: "less than the buffer left refreshes", stored: inBuffer, wantTok: tokenPrefix + "new-1", calls: 1, after: refreshed, logHas: "due for refresh"},
		{name: "exactly the buffer left refreshes", stored: atBuffer, wantTok: tokenPrefix + "new-1", calls: 1, after: refreshed},
		{name: "expired entry refreshes", stored: expired, wantTok: tokenPrefix + "new-1", calls: 1, after: refreshed},

		{name: "truncated entry is replaced", stored: fresh[:len(fresh)/2], wantTok: tokenPrefix + "new-1", calls: 1, after: refreshed, logHas: "unusable cache entry"},
		{name: "non-JSON entry is replaced", stored: "\x00\xffgarbage", wantTok: tokenPrefix + "new-1", calls: 1, after: refreshed},
		{name: "foreign entry is replaced", stored: `{"username":"x","password":"y"}`, wantTok: tokenPrefix + "new-1", calls: 1, after: refreshed},
		{name: "old version is replaced", stored: strings.Replace(fresh, `"v":3`, `"v":2`, 1), wantTok: tokenPrefix + "new-1", calls: 1, after: refreshed},
		{name: "newer version is replaced", stored: strings.Replace(fresh, `"v":3`, `"v":4`, 1), wantTok: tokenPrefix + "new-1", calls: 1, after: refreshed},
		{name: "store read error is a miss", stored: fresh, getErr: errors.New("secret service did not answer"), wantTok: tokenPrefix + "new-1", calls: 1, after: refreshed, logHas: "cache read failed"},
		// Under an explicit --cache keyring the store returns ErrUnreachable
		// (AutoStore never does): the call fails without a token request.
		{name: "unavailable store fails without a refresh", stored: fresh, getErr: fmt.Errorf("dial: %w", ErrUnreachable), wantErr: ErrUnreachable, calls: 0, after: fresh},
		{name: "store write error still returns the token", setErr: errors.New("read-only file system"), wantTok: tokenPrefix + "new-1", calls: 1, after: "", logHas: "caching the token failed"},
		// The buffer is cut to half its life (15s), so the token is cached
		// and served like any other.
		{name: "token shorter-lived than the buffer is cached with the buffer clamped", upTTL: 30 * time.Second, wantTok: tokenPrefix + "new-1", calls: 1, after: entryObtained(tokenPrefix+"new-1", t0, t0.Add(30*time.Second)), logHas: "refresh buffer clamped"},

		{name: "transient failure serves unexpired cached token", stored: inBuffer, upErr: transient, wantTok: tokenPrefix + "cached", calls: 1, warns: 1, after: inBuffer},
		{name: "temporary failure serves unexpired cached token", stored: inBuffer, upErr: temporaryError{}, wantTok: tokenPrefix + "cached", calls: 1, warns: 1, after: inBuffer},
		{name: "transient failure with expired cached token fails", stored: expired, upErr: transient, wantErr: transient, calls: 1, after: expired},
		{name: "transient failure with nothing cached fails", upErr: transient, wantErr: transient, calls: 1},
		{name: "rejected credentials fail despite a cached token", stored: inBuffer, upErr: rejected, wantErr: rejected, calls: 1, after: inBuffer},
		{name: "bad response fails despite a cached token", stored: inBuffer, upErr: bad, wantErr: bad, calls: 1, after: inBuffer},
	} {
		t.Run(c.name, func(t *testing.T) {
			runSourceCase(t, c, (*Cache).TokenContext)
		})
	}
}

func TestCacheRefresh(t *testing.T) {
	fresh := entry(tokenPrefix+"cached", t0.Add(10*time.Minute))
	expired := entry(tokenPrefix+"cached", t0.Add(-time.Second))
	refreshed := entry(tokenPrefix+"new-1", t0.Add(time.Hour))
	transient, rejected := dtError(auth.Transient), dtError(auth.Rejected)

	for _, c := range []sourceCase{
		{name: "fresh entry is refreshed anyway", stored: fresh, wantTok: tokenPrefix + "new-1", calls: 1, after: refreshed},
		{name: "miss refreshes", wantTok: tokenPrefix + "new-1", calls: 1, after: refreshed},
		{name: "transient failure serves the cached token", stored: fresh, upErr: transient, wantTok: tokenPrefix + "cached", calls: 1, warns: 1, after: fresh},
		{name: "transient failure with expired cached token fails", stored: expired, upErr: transient, wantErr: transient, calls: 1, after: expired},
		{name: "rejected credentials fail", stored: fresh, upErr: rejected, wantErr: rejected, calls: 1, after: fresh},
	} {
		t.Run(c.name, func(t *testing.T) {
			runSourceCase(t, c, (*Cache).Refresh)
		})
	}
}

func TestCacheToken(t *testing.T) {
	// Token is the oauth2.TokenSource face of TokenContext.
	runSourceCase(t, sourceCase{wantTok: tokenPrefix + "new-1", calls: 1, after: entry(tokenPrefix+"new-1", t0.Add(time.Hour))},
		func(s *Cache, _ context.Context) (*oauth2.Token, error) { return s.Token() })
}

func TestCacheWarning(t *testing.T) {
	clock := newStepClock(t0)
	store := newTestMapStore()
	store.m[testKey] = []byte(entry(tokenPrefix+"cached", t0.Add(30*time.Second)))
	var log logCapture
	src := NewCache(&countingSource{now: clock.Now, err: dtError(auth.Transient)},
		CacheConfig{Location: Location{Store: store}, Account: testAcct, Now: clock.Now, Log: log.Logger()})
	if _, err := src.TokenContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	w := log.warnings()
	if len(w) != 1 {
		t.Fatalf("got %d warnings, want 1:\n%s", len(w), log.String())
	}
	for _, want := range []string{"refresh failed (token request to " + testEndpoint, "simulated transient", "serving the cached token, valid until 2026-01-02T03:04:35Z"} {
		if !strings.Contains(w[0], want) {
			t.Errorf("warning %q lacks %q", w[0], want)
		}
	}
}

func TestCacheSequence(t *testing.T) {
	clock := newStepClock(t0)
	store := newTestMapStore()
	up := &countingSource{now: clock.Now}
	src := NewCache(up, CacheConfig{Location: Location{Store: store}, Account: testAcct, Now: clock.Now})

	steps := []struct {
		advance   time.Duration
		wantTok   string
		wantCalls int
	}{
		{0, tokenPrefix + "new-1", 1},
		{time.Minute, tokenPrefix + "new-1", 1},
		{57 * time.Minute, tokenPrefix + "new-1", 1},                // 2m left
		{90 * time.Second, tokenPrefix + "new-2", 2},                // 30s left: refreshed
		{58*time.Minute + 59*time.Second, tokenPrefix + "new-2", 2}, // 61s left
		{time.Second, tokenPrefix + "new-3", 3},                     // 60s left: refreshed
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		tok, err := src.TokenContext(t.Context())
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got := []any{tok.AccessToken, up.Calls()}
		if diff := cmp.Diff([]any{s.wantTok, s.wantCalls}, got); diff != "" {
			t.Errorf("step %d: token, calls (-want +got):\n%s", i, diff)
		}
	}
}

func TestCacheCustomBuffer(t *testing.T) {
	for _, c := range []struct {
		name   string
		buffer time.Duration
		left   time.Duration
		calls  int
	}{
		{"5m buffer, 4m left", 5 * time.Minute, 4 * time.Minute, 1},
		{"5m buffer, 6m left", 5 * time.Minute, 6 * time.Minute, 0},
		{"no buffer, 1s left", bearer.NoBuffer, time.Second, 0},
		{"no buffer, expired", bearer.NoBuffer, 0, 1},
		{"zero is the default buffer, 61s left", 0, 61 * time.Second, 0},
		{"zero is the default buffer, 59s left", 0, 59 * time.Second, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			store := newTestMapStore()
			store.m[testKey] = []byte(entry(tokenPrefix+"cached", t0.Add(c.left)))
			clock := newStepClock(t0)
			up := &countingSource{now: clock.Now}
			src := NewCache(up, CacheConfig{Location: Location{Store: store}, Account: testAcct, Buffer: c.buffer, Now: clock.Now})
			if _, err := src.TokenContext(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := up.Calls(); got != c.calls {
				t.Errorf("upstream calls: got %d, want %d", got, c.calls)
			}
		})
	}
}

func TestCacheInvalidate(t *testing.T) {
	cached := entry(tokenPrefix+"cached", t0.Add(10*time.Minute))
	for _, c := range []struct {
		name        string
		stored      string
		token       string
		wantDropped bool
		after       string
	}{
		{"matching token", cached, tokenPrefix + "cached", true, ""},
		{"other token", cached, tokenPrefix + "other", false, cached},
		{"any token", cached, "", true, ""},
		{"nothing cached", "", tokenPrefix + "cached", false, ""},
		{"nothing cached, any token", "", "", false, ""},
		{"corrupt entry, a token", "garbage", tokenPrefix + "cached", false, "garbage"},
		{"corrupt entry, any token", "garbage", "", true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			store := newTestMapStore()
			if c.stored != "" {
				store.m[testKey] = []byte(c.stored)
			}
			var log logCapture
			src := NewCache(&countingSource{now: time.Now}, CacheConfig{Location: Location{Store: store, LockDir: privateTempDir(t)}, Account: testAcct, Log: log.Logger()})
			dropped, err := src.Invalidate(t.Context(), c.token)
			if err != nil {
				t.Fatal(err)
			}
			if dropped != c.wantDropped {
				t.Errorf("dropped: got %v, want %v", dropped, c.wantDropped)
			}
			if diff := cmp.Diff(c.after, store.raw()); diff != "" {
				t.Errorf("stored entry (-want +got):\n%s", diff)
			}
			log.checkNoTokens(t)
		})
	}
}

func TestCacheInvalidateThenRefresh(t *testing.T) {
	store := newTestMapStore()
	clock := newStepClock(t0)
	up := &countingSource{now: clock.Now}
	src := NewCache(up, CacheConfig{Location: Location{Store: store}, Account: testAcct, Now: clock.Now})
	first, err := src.TokenContext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if dropped, err := src.Invalidate(t.Context(), first.AccessToken); err != nil || !dropped {
		t.Fatalf("Invalidate: %v, %v; want true, nil", dropped, err)
	}
	second, err := src.TokenContext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]any{tokenPrefix + "new-2", 2}, []any{second.AccessToken, up.Calls()}); diff != "" {
		t.Errorf("after Invalidate: token, calls (-want +got):\n%s", diff)
	}
}

func TestCacheCached(t *testing.T) {
	stale := entry(tokenPrefix+"cached", t0.Add(-time.Minute))
	for _, c := range []struct {
		name    string
		stored  string
		getErr  error
		want    *oauth2.Token
		wantErr bool
		notFnd  bool
	}{
		{name: "stale token is shown, with the lifetime it was granted", stored: stale, want: &oauth2.Token{AccessToken: tokenPrefix + "cached", TokenType: "Bearer", Expiry: t0.Add(-time.Minute), ExpiresIn: 3600}},
		{name: "nothing cached", wantErr: true, notFnd: true},
		{name: "corrupt entry", stored: "{", wantErr: true},
		{name: "read error", stored: stale, getErr: errors.New("locked collection"), wantErr: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			store := newTestMapStore()
			if c.stored != "" {
				store.m[testKey] = []byte(c.stored)
			}
			store.getErr = c.getErr
			up := &countingSource{now: time.Now}
			src := NewCache(up, CacheConfig{Location: Location{Store: store}, Account: testAcct})
			got, err := src.Cached(t.Context())
			if (err != nil) != c.wantErr || errors.Is(err, ErrNotFound) != c.notFnd {
				t.Fatalf("error: got %v, want error %v (not found %v)", err, c.wantErr, c.notFnd)
			}
			if diff := cmp.Diff(c.want, got, cmp.AllowUnexported(oauth2.Token{})); diff != "" {
				t.Errorf("token (-want +got):\n%s", diff)
			}
			if up.Calls() != 0 {
				t.Errorf("Cached called upstream")
			}
		})
	}
}

// TestCacheHitIsCheap checks the hot path: a fresh entry is served without
// touching the lock directory and with no allocations beyond reading and
// decoding the entry.
func TestCacheHitIsCheap(t *testing.T) {
	store := newTestMapStore()
	store.m[testKey] = []byte(entry(tokenPrefix+"cached", t0.Add(time.Hour)))
	lockDir := filepath.Join(privateTempDir(t), "locks")
	clock := newStepClock(t0)
	up := &countingSource{now: clock.Now}
	src := NewCache(up, CacheConfig{Location: Location{Store: store, LockDir: lockDir}, Account: testAcct, Now: clock.Now})

	if _, err := src.TokenContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lockDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a cache hit touched the lock directory (stat: %v)", err)
	}

	ctx := t.Context()
	var sink *oauth2.Token // kept, so the baseline's token is allocated as the Cache's is
	baseline := testing.AllocsPerRun(100, func() {
		data, _ := store.Get(testKey)
		e, _ := DecodeEntry(data)
		sink = e.Token()
	})
	_ = sink
	hit := testing.AllocsPerRun(100, func() {
		if _, err := src.TokenContext(ctx); err != nil {
			t.Fatal(err)
		}
	})
	if hit > baseline {
		t.Errorf("a cache hit allocates %v times, want no more than reading and decoding (%v)", hit, baseline)
	}
	if up.Calls() != 0 {
		t.Errorf("upstream called %d times on cache hits", up.Calls())
	}
}

func TestCacheSingleFlight(t *testing.T) {
	for _, c := range []struct {
		name    string
		lock    bool
		force   bool
		maxCall int
	}{
		{"cold, in-process lock only", false, false, 1},
		{"cold, with lock files", true, false, 1},
		// Forced refreshers accept a token refreshed while they waited; a
		// goroutine scheduled only after the first refresh ended may refresh
		// once more, hence "about once". Without the check it would be 32.
		{"forced, with lock files", true, true, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			const n = 32
			clock := newStepClock(t0)
			store := newTestMapStore()
			if c.force {
				store.m[testKey] = []byte(entry(tokenPrefix+"cached", t0.Add(time.Hour)))
			}
			up := &countingSource{now: clock.Now, delay: 100 * time.Millisecond}
			cfg := CacheConfig{Location: Location{Store: store}, Account: testAcct, Now: clock.Now}
			if c.lock {
				cfg.Location.LockDir = privateTempDir(t)
			}
			src := NewCache(up, cfg)

			var (
				wg     sync.WaitGroup
				start  = make(chan struct{})
				tokens = make([]string, n)
				errs   = make([]error, n)
			)
			for i := range n {
				wg.Go(func() {
					<-start
					call := src.TokenContext
					if c.force {
						call = src.Refresh
					}
					tok, err := call(t.Context())
					if err == nil {
						tokens[i] = tok.AccessToken
					}
					errs[i] = err
				})
			}
			close(start)
			wg.Wait()

			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			if got := up.Calls(); got < 1 || got > c.maxCall {
				t.Errorf("upstream calls: got %d, want 1..%d", got, c.maxCall)
			}
			for i, tok := range tokens {
				if tok == tokenPrefix+"cached" {
					t.Errorf("caller %d got the old token", i)
				}
			}
			if !c.force {
				want := make([]string, n)
				for i := range want {
					want[i] = tokenPrefix + "new-1"
				}
				if diff := cmp.Diff(want, tokens); diff != "" {
					t.Errorf("tokens (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestCacheLockTimeoutProceeds(t *testing.T) {
	lockDir := privateTempDir(t)
	unlock, err := Lock(t.Context(), lockDir, testKey, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock() // held throughout, as by a stuck process

	clock := newStepClock(t0)
	store := newTestMapStore()
	up := &countingSource{now: clock.Now}
	var log logCapture
	src := NewCache(up, CacheConfig{Location: Location{Store: store, LockDir: lockDir}, Account: testAcct, LockWait: 50 * time.Millisecond, Now: clock.Now, Log: log.Logger()})

	start := time.Now()
	tok, err := src.TokenContext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("took %v despite a 50ms lock wait", waited)
	}
	if diff := cmp.Diff([]any{tokenPrefix + "new-1", 1}, []any{tok.AccessToken, up.Calls()}); diff != "" {
		t.Errorf("token, calls (-want +got):\n%s", diff)
	}
	if !strings.Contains(log.String(), "proceeding without the cache lock") {
		t.Errorf("log does not say the lock was skipped:\n%s", log.String())
	}
	log.checkNoTokens(t)
}

func TestCacheContextEndsWhileWaiting(t *testing.T) {
	lockDir := privateTempDir(t)
	unlock, err := Lock(t.Context(), lockDir, testKey, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	up := &countingSource{now: time.Now}
	src := NewCache(up, CacheConfig{Location: Location{Store: newTestMapStore(), LockDir: lockDir}, Account: testAcct, LockWait: time.Minute})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := src.TokenContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want the context's error", err)
	}
	if up.Calls() != 0 {
		t.Errorf("upstream called after the caller gave up")
	}
}

func TestCacheUnusableLockDirProceeds(t *testing.T) {
	file := filepath.Join(privateTempDir(t), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	up := &countingSource{now: time.Now}
	src := NewCache(up, CacheConfig{Location: Location{Store: newTestMapStore(), LockDir: filepath.Join(file, "locks")}, Account: testAcct})
	if _, err := src.TokenContext(t.Context()); err != nil {
		t.Fatalf("an unusable lock directory failed the call: %v", err)
	}
}

// emulatorAccount is the service account the emulator tests use.
var emulatorAccount = authtest.Account{KeyID: "kid-emu", Email: "sa@example.test", Secret: "emulator-secret-do-not-log"}

func emulatorCreds(tokenURL string) auth.Credentials {
	return auth.Credentials{KeyID: emulatorAccount.KeyID, Email: emulatorAccount.Email, Secret: emulatorAccount.Secret, TokenEndpoint: tokenURL}
}

// TestCacheWithEmulator runs the cache over the real exchange (auth.Source)
// and the real file store, against the in-process emulator, on a fake clock.
func TestCacheWithEmulator(t *testing.T) {
	srv := authtest.NewServer(emulatorAccount)
	t.Cleanup(srv.Close)
	clock := newStepClock(time.Now().UTC().Truncate(time.Second))
	srv.SetClock(clock.Now)
	creds := emulatorCreds(srv.TokenURL())
	up, err := auth.NewSource(creds, auth.WithClock(clock.Now), auth.WithHTTPClient(srv.Client()),
		auth.WithRetries(0, time.Millisecond, time.Millisecond)) // one request per refresh keeps the counts exact
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(privateTempDir(t), "cache")
	var log logCapture
	src := NewCache(up, CacheConfig{Location: Location{Store: NewFileStore(dir), LockDir: dir}, Account: Account{Endpoint: creds.TokenEndpoint, KeyID: creds.KeyID, Email: creds.Email}, Now: clock.Now, Log: log.Logger()})

	const (
		same  = "same token"
		fresh = "new token"
	)
	unavailable := authtest.ErrorFault(503, "temporarily_unavailable", "try later")
	invalid := authtest.ErrorFault(400, "invalid_grant", "bad signature")
	steps := []struct {
		name     string
		advance  time.Duration
		fault    *authtest.Fault
		force    bool
		requests int
		want     string // same, fresh or "" for an error
		isErr    func(error) bool
		warns    int // so far
	}{
		{name: "cold", requests: 1, want: fresh},
		{name: "hit", advance: 30 * time.Minute, requests: 1, want: same},
		{name: "30s left: refresh", advance: 29*time.Minute + 30*time.Second, requests: 2, want: fresh},
		{name: "hit again", advance: time.Minute, requests: 2, want: same},
		{name: "30s left, service unavailable: cached", advance: 58 * time.Minute, fault: &unavailable, requests: 3, want: same, warns: 1},
		// The back-off of the first failure ended with the cached token's
		// expiry: this is a full attempt.
		{name: "expired, service unavailable: error", advance: time.Minute, fault: &unavailable, requests: 4, isErr: auth.IsTransient, warns: 1},
		{name: "service back, inside the back-off: the failure again, at once", requests: 4, isErr: isBackoff, warns: 1},
		{name: "service back, after the back-off", advance: bearer.BackoffCap, requests: 5, want: fresh, warns: 1},
		{name: "forced refresh", force: true, requests: 6, want: fresh, warns: 1},
		{name: "forced refresh, rejected: error despite a fresh token", force: true, fault: &invalid, requests: 7, isErr: auth.IsRejected, warns: 1},
	}
	var last string
	for _, s := range steps {
		clock.Advance(s.advance)
		if s.fault != nil {
			srv.Inject(*s.fault)
		}
		call := src.TokenContext
		if s.force {
			call = src.Refresh
		}
		tok, err := call(t.Context())
		switch {
		case s.isErr != nil:
			if err == nil || !s.isErr(err) {
				t.Fatalf("%s: got %v, want an error of the right kind", s.name, err)
			}
		case err != nil:
			t.Fatalf("%s: %v", s.name, err)
		default:
			got := same
			if tok.AccessToken != last {
				got = fresh
			}
			if diff := cmp.Diff(s.want, got); diff != "" {
				t.Errorf("%s: token (-want +got):\n%s", s.name, diff)
			}
			if !srv.Valid(tok.AccessToken) {
				t.Errorf("%s: the emulator does not accept the token", s.name)
			}
			last = tok.AccessToken
		}
		if got := srv.Requests(); got != s.requests {
			t.Errorf("%s: token requests: got %d, want %d", s.name, got, s.requests)
		}
		if got := len(log.warnings()); got != s.warns {
			t.Errorf("%s: warnings: got %d, want %d", s.name, got, s.warns)
		}
	}
	checkLogClean(t, log.String(), srv)
}

// isBackoff says err is a failure repeated at once during the back-off.
func isBackoff(err error) bool {
	var be *BackoffError
	return errors.As(err, &be)
}

// checkLogClean fails if text holds the secret or any token srv issued.
func checkLogClean(t *testing.T, text string, srv *authtest.Server) {
	t.Helper()
	if strings.Contains(text, emulatorAccount.Secret) {
		t.Errorf("log contains the secret:\n%s", text)
	}
	for _, ti := range srv.Tokens() {
		if strings.Contains(text, ti.Token) {
			t.Errorf("log contains an access token:\n%s", text)
		}
	}
}

// Environment of the child processes of TestCacheAcrossProcesses.
const (
	envSourceChild = "DT_KEYRING_TEST_SOURCE_CHILD"
	envSourceDir   = "DT_KEYRING_TEST_SOURCE_DIR"
	envSourceURL   = "DT_KEYRING_TEST_SOURCE_URL"
)

// TestCacheAcrossProcesses starts processes that all want a token from a
// cold cache at once, and checks that the identity service sees one request:
// the lock file serialises them and the later ones read the first one's
// entry. The emulator runs here; children reach it over loopback.
func TestCacheAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	const n = 6
	srv := authtest.NewServer(emulatorAccount)
	t.Cleanup(srv.Close)
	// A slow exchange, so that processes arriving during the refresh must
	// wait for it rather than find the cache already filled.
	srv.InjectAlways(authtest.Fault{Delay: 300 * time.Millisecond})
	dir := filepath.Join(privateTempDir(t), "cache")

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	type child struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		stdout *bufio.Reader
		stderr bytes.Buffer
	}
	children := make([]*child, n)
	for i := range children {
		c := &child{cmd: exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCacheHelperProcess$")}
		c.cmd.Env = append(os.Environ(), envSourceChild+"=1", envSourceDir+"="+dir, envSourceURL+"="+srv.TokenURL())
		c.cmd.Stderr = &c.stderr
		var err error
		if c.stdin, err = c.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		out, err := c.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		c.stdout = bufio.NewReader(out)
		if err := c.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		children[i] = c
	}
	// All children are started and initialised before any asks, so that
	// they ask together.
	for i, c := range children {
		if line, err := c.stdout.ReadString('\n'); err != nil || line != "ready\n" {
			c.cmd.Wait()
			t.Fatalf("child %d: got %q, %v; want ready\nstderr:\n%s", i, line, err, c.stderr.String())
		}
	}
	for _, c := range children {
		io.WriteString(c.stdin, "go\n")
	}
	tokens := make([]string, n)
	for i, c := range children {
		line, _ := c.stdout.ReadString('\n')
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v\nstderr:\n%s", i, err, c.stderr.String())
		}
		tokens[i] = strings.TrimSuffix(strings.TrimPrefix(line, "token "), "\n")
		checkLogClean(t, c.stderr.String(), srv)
	}

	if got := srv.Requests(); got != 1 {
		for i, c := range children {
			t.Logf("child %d log:\n%s", i, c.stderr.String())
		}
		t.Errorf("token requests across %d processes: got %d, want 1", n, got)
	}
	want := make([]string, n)
	for i := range want {
		want[i] = tokens[0]
	}
	if diff := cmp.Diff(want, tokens); diff != "" {
		t.Errorf("tokens (-want +got):\n%s", diff)
	}
	if !srv.Valid(tokens[0]) {
		t.Errorf("the emulator does not accept the token")
	}
}

// TestCacheHelperProcess is a child of TestCacheAcrossProcesses: it says
// ready, waits for go, gets a token through the file cache and prints it.
// Run normally, it does nothing.
func TestCacheHelperProcess(t *testing.T) {
	if os.Getenv(envSourceChild) != "1" {
		return
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	creds := emulatorCreds(os.Getenv(envSourceURL))
	up, err := auth.NewSource(creds)
	if err != nil {
		fail(err)
	}
	dir := os.Getenv(envSourceDir)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	src := NewCache(up, CacheConfig{Location: Location{Store: NewFileStore(dir), LockDir: dir}, Account: Account{Endpoint: creds.TokenEndpoint, KeyID: creds.KeyID, Email: creds.Email}, Log: log})
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fail(err)
	}
	tok, err := src.TokenContext(context.Background())
	if err != nil {
		fail(err)
	}
	fmt.Println("token " + tok.AccessToken)
	os.Exit(0)
}

// upstreamFunc is an Upstream answering with whatever a test needs.
type upstreamFunc func(context.Context) (*oauth2.Token, error)

func (f upstreamFunc) TokenContext(ctx context.Context) (*oauth2.Token, error) { return f(ctx) }

// TestCacheRefusesUpstreamAnswers: whatever the upstream (a Vault engine's
// answer is only as good as the engine), a token that is not a bearer
// token's characters, or not a bearer token, is never handed out; one that
// claims to live past a day is served with the day's cap it is cached with.
func TestCacheRefusesUpstreamAnswers(t *testing.T) {
	now := func() time.Time { return t0 }
	acct := Account{Endpoint: "vault:https://vault.example/v1/dt/token/prod", KeyID: "k", Email: "e"}
	for _, tc := range []struct {
		name    string
		tok     *oauth2.Token
		wantErr string
	}{
		{"header injection", &oauth2.Token{AccessToken: "abc\r\nX-Injected: 1", TokenType: "Bearer", Expiry: t0.Add(time.Hour)}, "character"},
		{"not bearer", &oauth2.Token{AccessToken: "abc", TokenType: "mac", Expiry: t0.Add(time.Hour)}, "not a bearer token"},
		{"over long", &oauth2.Token{AccessToken: strings.Repeat("a", bearer.MaxSize+1), TokenType: "Bearer", Expiry: t0.Add(time.Hour)}, "bytes long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newTestMapStore()
			c := NewCache(upstreamFunc(func(context.Context) (*oauth2.Token, error) { return tc.tok, nil }),
				CacheConfig{Location: Location{Store: store}, Account: acct, Now: now})
			tok, err := c.TokenContext(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || tok != nil {
				t.Fatalf("TokenContext = %v, %v; want no token and an error saying %q", tok, err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "X-Injected") {
				t.Errorf("the error quotes the token: %v", err)
			}
			if len(store.m) != 0 {
				t.Errorf("something was cached")
			}
		})
	}
	t.Run("a lifetime past a day is capped", func(t *testing.T) {
		c := NewCache(upstreamFunc(func(context.Context) (*oauth2.Token, error) {
			return &oauth2.Token{AccessToken: "abc", TokenType: "Bearer", Expiry: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)}, nil
		}), CacheConfig{Location: Location{Store: newTestMapStore()}, Account: acct, Now: now})
		tok, err := c.TokenContext(context.Background())
		if err != nil || !tok.Expiry.Equal(t0.Add(bearer.MaxLifetime)) {
			t.Fatalf("TokenContext = %v, %v; want the expiry capped at %v", tok, err, t0.Add(bearer.MaxLifetime))
		}
	})
}
