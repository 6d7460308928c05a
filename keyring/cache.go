package keyring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
)

// Config configures a [Source].
type Config struct {
	// Store holds the cached entry; required.
	Store Store
	// Key is the entry's key in Store, usually [Key] (endpoint, key id,
	// email); required. It also names the lock file.
	Key string
	// Endpoint, KeyID and Email are the account the tokens belong to: they
	// are recorded in the entry, and an entry recording another account is
	// a miss (a cache file renamed onto this key's name must not serve
	// another account's token).
	Endpoint, KeyID, Email string

	// Buffer is how much lifetime a cached token must have left to be
	// served. Zero means [auth.DefaultRefreshBuffer]; a negative value means
	// none, serving a token until it expires. It is cut to half of each
	// token's lifetime ([auth.ClampBuffer]), logged once at debug level.
	Buffer time.Duration
	// LockDir holds the per-key lock files that make concurrent processes
	// refresh once. Empty means no cross-process lock.
	LockDir string
	// LockWait bounds the wait for the lock; zero means [DefaultLockWait].
	// When it runs out, the refresh goes ahead without the lock.
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
	// wait, refresh, write failure) and a warning when a cached token is
	// served after a failed refresh. Nil discards. Tokens are never logged.
	Log *slog.Logger
}

// Source is an oauth2.TokenSource that serves the token cached in a [Store]
// while it has more than the refresh buffer left, and otherwise asks its
// upstream source (the DT exchange) for a new one and caches it. Refreshes
// are single-flight: within the process by a mutex, across processes by the
// key's [Lock]. It is safe for concurrent use.
type Source struct {
	upstream auth.ContextSource
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
}

var _ oauth2.TokenSource = (*Source)(nil)
var _ auth.ContextSource = (*Source)(nil)

// NewSource returns a Source caching the tokens of upstream as cfg says.
func NewSource(upstream auth.ContextSource, cfg Config) *Source {
	s := &Source{
		upstream: upstream,
		store:    cfg.Store,
		key:      cfg.Key,
		account:  Account{Endpoint: cfg.Endpoint, KeyID: cfg.KeyID, Email: cfg.Email},
		buffer:   cfg.Buffer,
		lockDir:  cfg.LockDir,
		lockWait: cfg.LockWait,
		timeout:  cfg.Timeout,
		now:      cfg.Now,
		log:      cfg.Log,
		sem:      make(chan struct{}, 1),
	}
	switch {
	case s.buffer == 0:
		s.buffer = auth.DefaultRefreshBuffer
	case s.buffer < 0:
		s.buffer = 0
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
func (s *Source) Token() (*oauth2.Token, error) { return s.TokenContext(context.Background()) }

// TokenContext returns the cached token while it has more than the buffer
// left; otherwise it refreshes it through upstream, once for all concurrent
// callers, and caches the result. When the refresh fails for a transient
// reason and the cached token has not yet expired, that token is served with
// a warning. Cache failures (unreadable, corrupt or unwritable entries) never
// fail the call; they only cost a refresh.
func (s *Source) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	// The hot path: a repeated invocation within the token's lifetime. No
	// lock file and nothing beyond the store read and decoding.
	e, ok, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	if ok {
		tok := e.Token()
		buffer := s.bufferFor(ctx, e.LifetimeDuration())
		if auth.Fresh(tok, buffer, s.now()) {
			if s.log.Enabled(ctx, slog.LevelDebug) {
				s.log.DebugContext(ctx, "cache hit", "store", s.store.Name(), "expires_at", e.Expiry.Format(time.RFC3339))
			}
			return tok, nil
		}
		s.log.DebugContext(ctx, "cached token is due for refresh", "store", s.store.Name(),
			"expires_at", e.Expiry.Format(time.RFC3339), "buffer", buffer)
	}
	return s.refresh(ctx, false)
}

// Refresh gets a new token from upstream even if the cached one is fresh
// (--force-refresh) and caches it. A crowd of concurrent forced refreshes
// still refreshes about once: whoever waited for the lock accepts a token
// that another refreshed while it waited. The transient-failure fallback of
// [Source.TokenContext] applies.
func (s *Source) Refresh(ctx context.Context) (*oauth2.Token, error) {
	return s.refresh(ctx, true)
}

// Invalidate drops the cached entry if it holds accessToken, or whatever it
// holds when accessToken is empty, and reports whether it dropped one. Use it
// when a server rejected the token before its expiry (git and docker erase)
// and to forget a profile's tokens (logout).
func (s *Source) Invalidate(ctx context.Context, accessToken string) (bool, error) {
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
func (s *Source) Cached(ctx context.Context) (*oauth2.Token, error) {
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

// bufferFor is the refresh buffer for a token granted for lifetime: the
// configured one, cut to half the lifetime, which is logged the first time.
func (s *Source) bufferFor(ctx context.Context, lifetime time.Duration) time.Duration {
	b := auth.ClampBuffer(s.buffer, lifetime)
	if b != s.buffer && s.log.Enabled(ctx, slog.LevelDebug) && s.clampLogged.CompareAndSwap(false, true) {
		s.log.DebugContext(ctx, "refresh buffer clamped to half the token's lifetime", "buffer", s.buffer,
			"lifetime", lifetime.Round(time.Second), "clamped", b.Round(time.Millisecond))
	}
	return b
}

// read returns the cached entry, reporting false for anything unusable:
// missing, unreadable, corrupt, foreign or of another version. Such entries
// are replaced by the next write, so none of this is an error. A store that
// cannot be reached at all ([ErrUnavailable]) is: only an explicitly chosen
// keyring lets that through (the auto store falls back to files), and going
// on would only spend a refresh and wait out the keyring's timeout again on
// the write, for a token that could not be cached where the user asked.
func (s *Source) read(ctx context.Context) (Entry, bool, error) {
	data, err := s.store.Get(s.key)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return Entry{}, false, fmt.Errorf("token cache: %w", err)
		}
		if errors.Is(err, ErrNotFound) {
			s.log.DebugContext(ctx, "cache miss", "store", s.store.Name())
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
// refreshed meanwhile), else ask upstream and cache the result.
func (s *Source) refresh(ctx context.Context, force bool) (*oauth2.Token, error) {
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	// A forced refresh accepts a cached token only if it changed while we
	// waited for the lock, i.e. another forced refresh produced it; so the
	// token seen before the wait is remembered.
	var seen string
	if force {
		e, ok, err := s.read(ctx)
		if err != nil {
			return nil, err
		}
		if ok {
			seen = e.AccessToken
		}
	}

	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()

	cached, haveCached, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	if haveCached {
		tok := cached.Token()
		if auth.Fresh(tok, s.bufferFor(ctx, cached.LifetimeDuration()), s.now()) && (!force || cached.AccessToken != seen) {
			s.log.DebugContext(ctx, "token was refreshed by another caller while we waited", "store", s.store.Name(),
				"expires_at", cached.Expiry.Format(time.RFC3339))
			return tok, nil
		}
	}

	s.log.DebugContext(ctx, "refreshing the token", "endpoint", s.account.Endpoint, "key_id", s.account.KeyID, "forced", force)
	tok, err := s.upstream.TokenContext(ctx)
	if err != nil {
		if haveCached && transient(err) && cached.Expiry.After(s.now()) {
			// Better a token that still works for a while than no token: the
			// caller's request may well complete before it expires.
			s.log.WarnContext(ctx, fmt.Sprintf("refresh failed (%v); serving the cached token, valid until %s",
				err, cached.Expiry.UTC().Format(time.RFC3339)))
			return cached.Token(), nil
		}
		return nil, err
	}
	if tok == nil || tok.AccessToken == "" {
		return nil, errors.New("the token source returned no access token")
	}
	now := s.now()
	e := NewEntry(tok, s.account, now)
	if buffer := s.bufferFor(ctx, e.LifetimeDuration()); !auth.Fresh(tok, buffer, now) {
		// Hand it out anyway rather than refresh in a loop.
		s.log.DebugContext(ctx, "new token has less than the refresh buffer left", "expires_at", tok.Expiry.UTC().Format(time.RFC3339), "buffer", buffer)
	}
	if err := e.Check(); err != nil {
		// Written, it would never be read back: every call would refresh
		// and rewrite it. The upstream source is not DT's exchange, which
		// refuses such tokens.
		s.log.DebugContext(ctx, "not caching the token", "error", err)
		return tok, nil
	}
	if err := s.store.Set(s.key, e.Encode()); err != nil {
		// The token is good; only the next invocation pays for this.
		s.log.DebugContext(ctx, "caching the token failed", "store", s.store.Name(), "error", err)
	} else {
		s.log.DebugContext(ctx, "token cached", "store", s.store.Name(), "expires_at", tok.Expiry.UTC().Format(time.RFC3339))
	}
	return tok, nil
}

// lock takes the in-process lock, then the key's file lock if there is a
// lock directory. A file lock that cannot be had (timeout, unwritable
// directory) is logged and skipped: the worst outcome is a second refresh.
// Only the end of ctx is an error.
func (s *Source) lock(ctx context.Context) (unlock func(), err error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for another refresh of the cached token: %w", ctx.Err())
	}
	release := func() { <-s.sem }
	if s.lockDir == "" {
		return release, nil
	}

	start := time.Now()
	s.log.DebugContext(ctx, "taking the cache lock", "dir", s.lockDir, "max_wait", s.lockWait)
	unlockFile, err := Lock(ctx, s.lockDir, s.key, s.lockWait)
	switch {
	case err == nil:
		s.log.DebugContext(ctx, "cache lock taken", "waited", time.Since(start).Round(time.Millisecond))
		return func() { unlockFile(); release() }, nil
	case ctx.Err() != nil:
		release()
		return nil, err
	default:
		s.log.DebugContext(ctx, "proceeding without the cache lock", "error", err)
		return release, nil
	}
}

// transient reports whether a refresh failure may go away by itself, so that
// serving the cached token meanwhile is the right thing. auth.Error says so
// by its Kind; other sources by the Temporary convention of net.Error.
func transient(err error) bool {
	if auth.IsTransient(err) {
		return true
	}
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}
