package auth

import (
	"context"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// ReuseSource keeps the last token in memory and asks its source for a new
// one when the token is due by the rule every token of this module is
// reused by (bearer.Fresh): less than the refresh buffer left, the buffer
// cut to half the token's lifetime, so that tokens granted for less than
// the buffer are still reused. Concurrent callers share one refresh.
type ReuseSource struct {
	src    ContextSource
	buffer time.Duration
	now    func() time.Time

	mu  sync.Mutex
	tok *oauth2.Token
	// life is how long tok had left when it came: its granted lifetime.
	life time.Duration
}

// NewReuseSource wraps src. buffer follows package bearer's convention:
// zero means bearer.DefaultRefreshBuffer (a minute, as DT's example
// refreshes), bearer.NoBuffer none.
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
	if r.tok != nil && r.tok.AccessToken != "" && bearer.Fresh(r.tok.Expiry, r.life, r.buffer, r.now()) {
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
