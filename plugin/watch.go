package plugin

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// Clock is the time WatchToken paces itself by, so tests need not sleep.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

const (
	// minWait keeps a Tokens that hands out nearly expired tokens from
	// being asked in a busy loop.
	minWait = time.Second
	// retryMin and retryMax bound the backoff after a failed refresh.
	retryMin = time.Second
	retryMax = 30 * time.Second
)

// errNoToken guards against a Tokens implementation returning neither token
// nor error.
var errNoToken = errors.New("the provider returned no token")

// watcher sends a profile's current token, then a fresh one before each
// expiry: when the token is due by the rule the cache refreshes by
// (bearer.DueAt with the cache's buffer), so that the watch and the CLI
// refresh at the same moment and the cache's transient-failure fallback
// covers the watch too. It lives in the plugin, next to the cache, so a
// host never waits on the identity service.
type watcher struct {
	p        Tokens
	classify Classifier
	clock    Clock
	log      hclog.Logger
	// buffer is the cache's refresh buffer, by bearer's convention.
	buffer time.Duration
}

// run sends the current token, then keeps sending fresh ones until ctx is
// done (nil) or a refresh fails for a reason retrying cannot fix. The first
// token's error is returned as is: the host has nothing to use yet.
func (w *watcher) run(ctx context.Context, profile string, send func(*oauth2.Token) error) error {
	clock, log := w.clock, w.log
	if clock == nil {
		clock = systemClock{}
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	tok, err := w.p.Token(ctx, profile, false)
	if err == nil && tok == nil {
		err = errNoToken
	}
	if err != nil {
		return err
	}
	if err := send(tok); err != nil {
		return err
	}
	life := lifetimeOf(tok, clock.Now())
	var backoff time.Duration
	for {
		wait := backoff
		if wait == 0 {
			if tok.Expiry.IsZero() {
				// A token that never expires needs no successor.
				<-ctx.Done()
				return nil
			}
			wait = max(bearer.DueAt(tok.Expiry, life, w.buffer).Sub(clock.Now()), minWait)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-clock.After(wait):
		}
		next, err := w.next(ctx, profile, tok)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if permanent(w.classify, err) {
				return err
			}
			backoff = nextBackoff(backoff)
			log.Warn("token refresh failed, retrying; the host keeps the current token",
				"profile", profile, "retry_in", backoff.String(), "error", err.Error())
			continue
		}
		backoff = 0
		if next.AccessToken != tok.AccessToken {
			if err := send(next); err != nil {
				return err
			}
		}
		tok, life = next, lifetimeOf(next, clock.Now())
	}
}

// next returns cur's successor, asked for when cur is due: the cache then
// refreshes it, or serves the token another process (the CLI, another host)
// already fetched. Should the cache still serve cur (a cache configured
// with a shorter buffer than the watcher's), a forced refresh fetches a
// new one.
func (w *watcher) next(ctx context.Context, profile string, cur *oauth2.Token) (*oauth2.Token, error) {
	tok, err := w.p.Token(ctx, profile, false)
	if err == nil && tok != nil && tok.AccessToken == cur.AccessToken {
		tok, err = w.p.Token(ctx, profile, true)
	}
	if err == nil && tok == nil {
		err = errNoToken
	}
	return tok, err
}

// permanent reports whether trying again cannot help: the credentials were
// refused or the configuration must change.
func permanent(classify Classifier, err error) bool {
	switch classOf(classify, err) {
	case ErrRejected, ErrUnknownProfile, ErrConfig:
		return true
	}
	return false
}

// nextBackoff is the wait after a failed refresh that followed a wait of d
// (zero for the first failure): doubling from retryMin, at most retryMax.
func nextBackoff(d time.Duration) time.Duration {
	return min(max(2*d, retryMin), retryMax)
}
