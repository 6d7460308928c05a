package backend

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// The engine backs off after a failed refresh as the helper's cache does,
// by bearer's one rule: a refresh that fails for a transient reason is not
// tried again before bearer.Backoff says, however many readers come, and
// meanwhile they get the cached token while it is valid, else the failure,
// at once. The record is in the account's memory on the node that refreshes
// (the active node; a standby forwards what it cannot serve to it), where a
// clock step cannot stretch it: time.Now carries a monotonic reading.

// heldOff answers a reader while the back-off holds (held false when it
// does not): the cached token while it has not expired, else the last
// failure, as a 503.
func (c *tokenCache) heldOff(now time.Time) (tok *oauth2.Token, held bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.backoff.Holds(now) {
		return nil, false, nil
	}
	if c.tok != nil && c.tok.AccessToken != "" && c.tok.Expiry.After(now) {
		return c.tok, true, nil
	}
	return nil, true, logical.CodedError(http.StatusServiceUnavailable,
		fmt.Sprintf("%s (not tried again before %s)", c.failure, c.backoff.NotBefore.UTC().Format(time.RFC3339)))
}

// enter waits for the account's turn to refresh and returns its release.
// While a still-valid token is cached the wait is at most
// bearer.CoveredBudget: then release is nil and that token is returned, as
// another reader is refreshing it for everyone.
func (c *tokenCache) enter(ctx context.Context, name string, now time.Time) (release func(), tok *oauth2.Token, err error) {
	var budget <-chan time.Time
	if cached := c.get(); cached != nil && cached.AccessToken != "" && cached.Expiry.After(now) {
		t := time.NewTimer(bearer.CoveredBudget)
		defer t.Stop()
		budget, tok = t.C, cached
	}
	select {
	case c.sem <- struct{}{}:
		return func() { <-c.sem }, nil, nil
	case <-budget:
		return nil, tok, nil
	case <-ctx.Done():
		return nil, nil, logical.CodedError(http.StatusServiceUnavailable, "waiting for the token of account "+name+": "+ctx.Err().Error())
	}
}

// fetch asks src for a token: a single attempt within bearer.CoveredBudget
// when valid (a still-valid token is cached to serve if it fails), else as
// the source retries, within the request's deadline.
func fetch(ctx context.Context, src *auth.Source, valid bool) (*oauth2.Token, error) {
	if valid {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(bearer.WithSingleAttempt(ctx), bearer.CoveredBudget)
		defer cancel()
	}
	return src.TokenContext(ctx)
}

// failed is what a reader gets after the refresh failed with err: a failure
// that may pass starts or extends the back-off, and the cached token is
// served while valid (warned about once a run, so that an outage does not
// flood the server's log); otherwise the failure, as classify makes it.
func (b *Backend) failed(ctx context.Context, c *tokenCache, name string, err error, cached *oauth2.Token, valid bool) (*oauth2.Token, error) {
	coded := b.classify(name, err)
	if !auth.IsTransient(err) || ctx.Err() != nil {
		// (a reader that gave up says nothing about DT)
		return nil, coded
	}
	now := b.now()
	var until time.Time
	if valid {
		until = cached.Expiry
	}
	next := c.fail(now, bearer.RetryAfter(err), until, coded.Error())
	if !valid {
		return nil, coded
	}
	msg, args := "token refresh failed; serving the cached token until it expires", []any{"account", name,
		"expires_at", cached.Expiry.UTC().Format(time.RFC3339), "failures", next.Failures,
		"next_attempt", next.NotBefore.UTC().Format(time.RFC3339Nano), "error", err.Error()}
	if next.Failures == 1 {
		b.Logger().Warn(msg, args...)
	} else {
		b.Logger().Debug(msg, args...)
	}
	return cached, nil
}

// fail records a transient failure at now, whose reader was told failure,
// and returns the back-off after it.
func (c *tokenCache) fail(now time.Time, retryAfter time.Duration, until time.Time, failure string) bearer.Backoff {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.backoff = c.backoff.Next(now, retryAfter, until)
	c.failure = failure
	return c.backoff
}

// lift lets the next refresh ask DT now, whatever the back-off says: an
// operator's rotate request means "try now", as --force-refresh does for
// the helper. The count of failures stays, so a failure then waits longer
// than the one before, as any other.
func (c *tokenCache) lift(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.backoff.NotBefore.After(now) {
		c.backoff.NotBefore = now
	}
}

// succeed keeps tok, the token a refresh got, and ends the back-off.
func (c *tokenCache) succeed(tok *oauth2.Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tok, c.backoff, c.failure = tok, bearer.Backoff{}, ""
}
