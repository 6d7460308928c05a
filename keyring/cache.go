package keyring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// Upstream is where a [Cache] gets a new token: the DT exchange
// (auth.Source), a Vault path (vaulttoken.Source), or any other source whose
// calls a context can bound. A failure the cache may ride out by serving a
// still-valid cached token says so with a Temporary() bool method on the
// error or one it wraps (the net.Error convention), as auth.Error and
// vaulttoken.Error do; the cache knows no source's error types.
type Upstream interface {
	TokenContext(ctx context.Context) (*oauth2.Token, error)
}

// CacheConfig configures a [Cache].
type CacheConfig struct {
	// Location is where the entries and the lock files are: the command's
	// ([OpenLocation]), or a Store of your own; its Store is required.
	Location Location
	// Account is whose tokens these are: its entry's key in the store is
	// derived from it (Account.Key, which also names the lock file), it is
	// recorded in each entry, and an entry recording another account is a
	// miss (a cache file renamed onto this key's name must not serve
	// another account's token). Its Identity is who asks (see
	// [Identity]): its digest is recorded in the entries this Cache
	// writes, and an entry recording another is a miss, never served, not
	// even through a failed refresh. The zero Identity is served any entry
	// of the account and records none; with [NoIdentity] no entry is
	// served and none is written.
	Account Account

	// Buffer is how much lifetime a cached token must have left to be
	// served, by package bearer's rule and convention: zero means
	// bearer.DefaultRefreshBuffer, bearer.NoBuffer none, serving a token
	// until it expires; it is cut to half of each token's lifetime
	// (bearer.Buffer), logged once at debug level.
	Buffer time.Duration
	// LockWait is how long to wait for the lock before the refresh goes
	// ahead without it; zero means [DefaultLockWait]. A holder that shows
	// it is alive and refreshing (another Cache's heartbeat, see [Lock])
	// is waited for past it, until Timeout or the caller's deadline: it
	// will succeed or fail for everyone.
	LockWait time.Duration
	// Timeout bounds a refresh, from the lock wait to the write; zero means
	// no bound beyond the caller's context. It is applied here, not by the
	// caller, so that serving a cached token arms no timer: the first timer
	// of a process starts Go's network poller, which costs a cached call
	// more than its cache read.
	Timeout time.Duration
	// Now is the clock that decides expiry; nil means time.Now.
	Now func() time.Time
	// Log receives each step at debug level (hit, miss, stale entry, lock
	// wait, refresh, write failure, the back-off) and a warning when a
	// cached token is served after the first of a run of failed refreshes,
	// or a forced one. Nil discards. Tokens are never logged.
	Log *slog.Logger
}

// Cache is an oauth2.TokenSource that serves the token cached in a [Store]
// while it has more than the refresh buffer left, and otherwise asks its
// [Upstream] (the DT exchange, or Vault) for a new one and caches it. Refreshes
// are single-flight: within the process by a mutex, across processes by the
// key's [Lock]. A refresh that fails for a transient reason is not tried
// again by any process before the back-off it records beside the entry
// (bearer.Backoff) ends. It is safe for concurrent use.
type Cache struct {
	upstream Upstream
	store    Store
	key      string
	account  Account
	buffer   time.Duration
	lockDir  string
	lockWait time.Duration
	timeout  time.Duration
	now      func() time.Time
	log      *slog.Logger

	// sem serialises the slow path within the process. A channel rather than
	// a sync.Mutex, so a waiter gives up when its context ends.
	sem chan struct{}
	// clampLogged says the clamped buffer has been logged: once is enough.
	clampLogged atomic.Bool
	// backoffLogged says serving the cached token through the back-off has
	// been logged, since the last successful refresh: once is enough.
	backoffLogged atomic.Bool
}

var _ oauth2.TokenSource = (*Cache)(nil)
var _ Upstream = (*Cache)(nil)

// NewCache returns a Cache of the tokens of upstream, as cfg says.
func NewCache(upstream Upstream, cfg CacheConfig) *Cache {
	s := &Cache{
		upstream: upstream,
		store:    cfg.Location.Store,
		key:      cfg.Account.Key(),
		account:  cfg.Account,
		buffer:   cfg.Buffer,
		lockDir:  cfg.Location.LockDir,
		lockWait: cfg.LockWait,
		timeout:  cfg.Timeout,
		now:      cfg.Now,
		log:      cfg.Log,
		sem:      make(chan struct{}, 1),
	}
	if s.lockWait <= 0 {
		s.lockWait = DefaultLockWait
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Token implements oauth2.TokenSource.
func (s *Cache) Token() (*oauth2.Token, error) { return s.TokenContext(context.Background()) }

// TokenContext returns the cached token while it has more than the buffer
// left; otherwise it refreshes it through upstream, once for all concurrent
// callers, and caches the result. When the refresh fails for a transient
// reason and the cached token has not yet expired, that token is served
// (with a warning, the first time in a run of failures), and the failure
// starts or extends the back-off, which every process sharing the store
// keeps: until it ends, the cached token is served at once, or, with none
// valid, the failure is returned at once as a [*BackoffError]. A refresh
// with a valid token to fall back on gets bearer.CoveredBudget and a single
// attempt, not the whole Timeout. Cache failures (unreadable, corrupt or
// unwritable entries) never fail the call; they only cost a refresh.
func (s *Cache) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	// The hot path: a repeated invocation within the token's lifetime. No
	// lock file and nothing beyond the store read and decoding.
	e, ok, err := s.read(ctx, true)
	if err != nil {
		return nil, err
	}
	if ok {
		if s.fresh(ctx, e, s.now()) {
			if s.log.Enabled(ctx, slog.LevelDebug) {
				s.log.DebugContext(ctx, "cache hit", "store", s.store.Name(), "expires_at", e.Expiry.Format(time.RFC3339))
			}
			return e.Token(), nil
		}
		s.log.DebugContext(ctx, "cached token is due for refresh", "store", s.store.Name(),
			"expires_at", e.Expiry.Format(time.RFC3339), "buffer", bearer.Buffer(s.buffer, e.LifetimeDuration()))
	}
	if tok, held, err := s.heldOff(ctx, e, ok); held {
		return tok, err
	}
	return s.refresh(ctx, false, e, ok)
}

// Refresh gets a new token from upstream even if the cached one is fresh
// (--force-refresh) and caches it, whatever the back-off says. A crowd of
// concurrent forced refreshes still refreshes about once: whoever waited
// for the lock accepts a token that another refreshed while it waited. The
// transient-failure fallback of [Cache.TokenContext] applies, with the
// whole Timeout.
func (s *Cache) Refresh(ctx context.Context) (*oauth2.Token, error) {
	e, ok, err := s.read(ctx, true)
	if err != nil {
		return nil, err
	}
	return s.refresh(ctx, true, e, ok)
}

// Invalidate drops the cached entry if it holds accessToken, or whatever it
// holds when accessToken is empty, and reports whether it dropped one. Use it
// when a server rejected the token before its expiry (git and docker erase)
// and to forget a profile's tokens (logout).
func (s *Cache) Invalidate(ctx context.Context, accessToken string) (bool, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return false, err
	}
	defer unlock()

	data, err := s.store.Get(s.key)
	switch {
	case errors.Is(err, ErrNotFound):
		return false, nil
	case err != nil && accessToken != "":
		return false, fmt.Errorf("reading the cached token from the %s store: %w", s.store.Name(), err)
	case accessToken != "":
		// A corrupt entry cannot hold accessToken; it is left for the next
		// write to replace.
		if e, err := DecodeEntry(data); err != nil || e.AccessToken != accessToken {
			s.log.DebugContext(ctx, "cached token not dropped: it is not the one given", "store", s.store.Name())
			return false, nil
		}
	}
	// With no token given, even an unreadable entry is deleted: the caller
	// wants it gone, whatever it is.
	if err := s.store.Delete(s.key); err != nil {
		return false, fmt.Errorf("deleting the cached token from the %s store: %w", s.store.Name(), err)
	}
	s.log.DebugContext(ctx, "cached token dropped", "store", s.store.Name())
	return true, nil
}

// Cached returns the cached token, fresh or not, without refreshing it, for
// status. The error wraps [ErrNotFound] when there is none, and is a decode
// or store error when the entry cannot be used (including an entry of
// another account, or with an expiry the clock cannot believe).
func (s *Cache) Cached(ctx context.Context) (*oauth2.Token, error) {
	data, err := s.store.Get(s.key)
	if err != nil {
		return nil, fmt.Errorf("reading the cached token from the %s store: %w", s.store.Name(), err)
	}
	e, err := DecodeEntry(data)
	if err == nil {
		err = e.CheckFor(s.account, s.now())
	}
	if err != nil {
		return nil, fmt.Errorf("%s store: %w", s.store.Name(), err)
	}
	return e.Token(), nil
}

// fresh reports whether e's token may be served at now, by the rule every
// reuse of a token follows (bearer.Fresh). The first time the buffer is cut
// to half a token's lifetime, it says so at debug level.
func (s *Cache) fresh(ctx context.Context, e Entry, now time.Time) bool {
	life := e.LifetimeDuration()
	if b, whole := bearer.Buffer(s.buffer, life), bearer.Buffer(s.buffer, 0); b != whole &&
		s.log.Enabled(ctx, slog.LevelDebug) && s.clampLogged.CompareAndSwap(false, true) {
		s.log.DebugContext(ctx, "refresh buffer clamped to half the token's lifetime", "buffer", whole,
			"lifetime", life.Round(time.Second), "clamped", b.Round(time.Millisecond))
	}
	return bearer.Fresh(e.Expiry, life, s.buffer, now)
}

// read returns the cached entry, reporting false for anything unusable:
// missing, unreadable, corrupt, foreign, obtained by another identity or of
// another version. Such entries
// are replaced by the next write, so none of this is an error. A store that
// cannot be reached at all ([ErrUnreachable]) is: only an explicitly chosen
// keyring lets that through (the auto store falls back to files), and going
// on would only spend a refresh and wait out the keyring's timeout again on
// the write, for a token that could not be cached where the user asked.
//
// first says this is the call's first read: a miss is said then, with the
// stores read and the one the new token goes to; the read again under the
// lock says nothing new.
func (s *Cache) read(ctx context.Context, first bool) (Entry, bool, error) {
	data, err := s.store.Get(s.key)
	if err != nil {
		if errors.Is(err, ErrUnreachable) {
			return Entry{}, false, fmt.Errorf("token cache: %w", err)
		}
		if errors.Is(err, ErrNotFound) {
			if first && s.log.Enabled(ctx, slog.LevelDebug) {
				write, _, _ := strings.Cut(s.store.Name(), " (")
				s.log.DebugContext(ctx, "cache miss", "read", readFrom(s.store), "write", write)
			}
		} else {
			s.log.DebugContext(ctx, "cache read failed; treating it as a miss", "store", s.store.Name(), "error", err)
		}
		return Entry{}, false, nil
	}
	e, err := DecodeEntry(data)
	if err == nil {
		err = e.CheckFor(s.account, s.now())
	}
	if err != nil {
		s.log.DebugContext(ctx, "ignoring unusable cache entry; it will be replaced", "store", s.store.Name(), "error", err)
		return Entry{}, false, nil
	}
	return e, true, nil
}

// refresh is the slow path: under the lock, re-read (another caller may have
// refreshed, or failed, meanwhile), else ask upstream and cache the result.
// seen is the entry read before (haveSeen false for none usable).
func (s *Cache) refresh(ctx context.Context, force bool, seen Entry, haveSeen bool) (*oauth2.Token, error) {
	// A still-valid token to serve if the refresh fails: the refresh gets
	// a short budget, since the caller has something to go on with.
	covered := !force && haveSeen && seen.Expiry.After(s.now())
	caller := ctx
	ctx, cancel := s.bound(ctx, covered)
	defer cancel()

	unlock, err := s.lock(ctx)
	if err != nil {
		if covered && caller.Err() == nil {
			// Another caller has held the lock for the whole budget: it is
			// refreshing, or failing to, for everyone.
			s.log.DebugContext(ctx, "another caller is refreshing the token; serving the cached token meanwhile", "error", err)
			return seen.Token(), nil
		}
		return nil, err
	}
	defer unlock()

	cached, haveCached, err := s.read(ctx, false)
	if err != nil {
		return nil, err
	}
	// A forced refresh accepts a cached token only if it changed while we
	// waited for the lock, i.e. another forced refresh produced it.
	if haveCached && s.fresh(ctx, cached, s.now()) && (!force || !haveSeen || cached.AccessToken != seen.AccessToken) {
		s.log.DebugContext(ctx, "token was refreshed by another caller while we waited", "store", s.store.Name(),
			"expires_at", cached.Expiry.Format(time.RFC3339))
		return cached.Token(), nil
	}
	prev, havePrev := s.readBackoff(ctx)
	if !force && havePrev {
		// Another caller failed while we waited for the lock.
		if tok, held, err := s.serveHeld(ctx, prev, cached, haveCached); held {
			return tok, err
		}
	}

	s.log.DebugContext(ctx, "refreshing the token", "endpoint", s.account.Endpoint, "key_id", s.account.KeyID, "forced", force,
		"single_attempt", covered)
	tok, err := s.upstream.TokenContext(ctx)
	if err != nil {
		if caller.Err() != nil {
			// The caller gave up: that says nothing about the upstream.
			return nil, err
		}
		return s.failed(ctx, err, force, cached, haveCached, prev, havePrev)
	}
	tok, err = s.accept(ctx, tok)
	if err == nil && havePrev {
		s.endBackoff(ctx)
	}
	return tok, err
}

// accept checks tok, a token the upstream answered, caches it and returns
// it as cached.
func (s *Cache) accept(ctx context.Context, tok *oauth2.Token) (*oauth2.Token, error) {
	if tok == nil || tok.AccessToken == "" {
		return nil, errors.New("the token source returned no access token")
	}
	// Whatever the upstream (DT's exchange checks this itself; Vault's
	// answer is only as good as the engine behind it): a token that is not
	// a bearer token's characters could inject into the header, git and
	// docker output it is printed into, so it is never handed out.
	if err := bearer.Check(tok.AccessToken); err != nil {
		return nil, fmt.Errorf("the token source's access token %w; it was not used", err)
	}
	if !bearer.IsBearer(tok.TokenType) {
		return nil, errors.New("the token source returned a token that is not a bearer token")
	}
	now := s.now()
	e := NewEntry(tok, s.account, now)
	// Served with the expiry as cached: a lifetime capped at a day, so
	// the first call shows what every later one will.
	tok = e.Token()
	if !s.fresh(ctx, e, now) {
		// Hand it out anyway rather than refresh in a loop.
		s.log.DebugContext(ctx, "new token has less than the refresh buffer left", "expires_at", tok.Expiry.UTC().Format(time.RFC3339),
			"buffer", bearer.Buffer(s.buffer, e.LifetimeDuration()))
	}
	s.write(ctx, e)
	return tok, nil
}

// bound arms the refresh's deadline: Timeout, or, covered by a still-valid
// token, at most bearer.CoveredBudget and a single attempt.
func (s *Cache) bound(ctx context.Context, covered bool) (context.Context, context.CancelFunc) {
	d := s.timeout
	if covered {
		if d <= 0 || d > bearer.CoveredBudget {
			d = bearer.CoveredBudget
		}
		ctx = bearer.WithSingleAttempt(ctx)
	}
	if d <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// failed is what a refresh that failed with err serves: the cached entry
// (read for this account and identity), when the failure may pass and its
// token has not expired; otherwise err. A failure that may pass starts or
// extends the back-off (after prev, the record read under the lock). The
// warning is for the first failure of a run, or a forced refresh: kubectl
// shows stderr, and a run of failures during an outage must not print on
// every call.
func (s *Cache) failed(ctx context.Context, err error, force bool, cached Entry, haveCached bool, prev backoffRecord, havePrev bool) (*oauth2.Token, error) {
	if !transient(err) {
		return nil, err
	}
	now := s.now()
	valid := haveCached && cached.Expiry.After(now)
	var last bearer.Backoff
	if havePrev {
		last = prev.backoff()
	}
	var until time.Time
	if valid {
		until = cached.Expiry
	}
	b := last.Next(now, bearer.RetryAfter(err), until)
	s.recordBackoff(ctx, b, err)
	if !valid {
		return nil, err
	}
	// Better a token that still works for a while than no token: the
	// caller's request may well complete before it expires.
	msg := fmt.Sprintf("refresh failed (%v); serving the cached token, valid until %s",
		err, cached.Expiry.UTC().Format(time.RFC3339))
	if force || b.Failures == 1 {
		s.log.WarnContext(ctx, msg)
	} else {
		s.log.DebugContext(ctx, msg, "failures", b.Failures, "next_attempt", b.NotBefore.UTC().Format(time.RFC3339Nano))
	}
	return cached.Token(), nil
}

// write caches e, the entry of a token just obtained, unless it would do
// no good: an entry that would not read back, or one nobody could be told
// the owner of. A failure costs only the next invocation a refresh.
func (s *Cache) write(ctx context.Context, e Entry) {
	if err := e.Check(); err != nil {
		// Written, it would never be read back: every call would refresh
		// and rewrite it (a token already expired, say).
		s.log.DebugContext(ctx, "not caching the token", "error", err)
		return
	}
	if s.account.Identity.None() {
		// Nothing would say whose it is: it would be served to the next
		// caller that proves nothing either.
		s.log.DebugContext(ctx, "not caching the token: the caller proves no identity")
		return
	}
	if err := s.store.Set(s.key, e.Encode()); err != nil {
		s.log.DebugContext(ctx, "caching the token failed", "store", s.store.Name(), "error", err)
		return
	}
	s.log.DebugContext(ctx, "token cached", "store", s.store.Name(), "expires_at", e.Expiry.UTC().Format(time.RFC3339))
}

// transient reports whether a refresh failure may go away by itself, so that
// serving the cached token meanwhile is the right thing. Sources say so by
// the Temporary convention of net.Error (see [Upstream]): the first error in
// the chain that has the method decides.
func transient(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}
