package auth

import (
	"context"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Fresh reports whether tok can be handed out at now: it has an access token
// and more than buffer of its lifetime left.
func Fresh(tok *oauth2.Token, buffer time.Duration, now time.Time) bool {
	return tok != nil && tok.AccessToken != "" && tok.Expiry.Sub(now) > buffer
}

// ReuseSource keeps the last token in memory and asks its source for a new
// one when less than the refresh buffer is left, as DT's example refreshes a
// token with less than a minute to go. The buffer is cut to half the token's
// lifetime (see [ClampBuffer]), so that tokens granted for less than the
// buffer are still reused. Concurrent callers share one refresh.
type ReuseSource struct {
	src    ContextSource
	buffer time.Duration
	now    func() time.Time

	mu  sync.Mutex
	tok *oauth2.Token
	// life is how long tok had left when it came: its granted lifetime.
	life time.Duration
}

// NewReuseSource wraps src; buffer is usually [DefaultRefreshBuffer].
func NewReuseSource(src ContextSource, buffer time.Duration) *ReuseSource {
	return &ReuseSource{src: src, buffer: buffer, now: time.Now}
}

// WithClock sets the clock that decides when a token is due, for tests.
func (r *ReuseSource) WithClock(now func() time.Time) *ReuseSource {
	r.now = now
	return r
}

// Token implements oauth2.TokenSource.
func (r *ReuseSource) Token() (*oauth2.Token, error) { return r.TokenContext(context.Background()) }

// TokenContext returns the kept token while it is fresh, else a new one.
func (r *ReuseSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if Fresh(r.tok, ClampBuffer(r.buffer, r.life), r.now()) {
		return r.tok, nil
	}
	tok, err := r.src.TokenContext(ctx)
	if err != nil {
		return nil, err
	}
	r.tok = tok
	if tok != nil {
		r.life = tok.Expiry.Sub(r.now())
	}
	return tok, nil
}

// Invalidate forgets the kept token if it is tok (or any token if tok is
// empty), so the next call fetches a new one: use it when a server rejected
// the token before its expiry.
func (r *ReuseSource) Invalidate(tok string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tok != nil && (tok == "" || r.tok.AccessToken == tok) {
		r.tok = nil
	}
}
