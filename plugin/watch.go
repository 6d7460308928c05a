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

// minWait keeps a Tokens that hands out nearly expired tokens from being
// asked in a busy loop.
const minWait = time.Second

// errNoToken guards against a Tokens implementation returning neither token
// nor error.
var errNoToken = errors.New("the provider returned no token")

// watcher sends a profile's current token, then a fresh one before each
// expiry: when the token is due by the rule the cache refreshes by
// (bearer.DueAt with the cache's buffer), so that the watch and the CLI
// refresh at the same moment and the cache's transient-failure fallback
// covers the watch too. When the refresh fails, or the cache serves the
// due token again (its refresh failed, or it is backing off after another
// process's failure), the watch asks again after bearer's back-off, never
// forcing a refresh: the cache's back-off is shared by every process, and
// a forced refresh would ignore it. It lives in the plugin, next to the
// cache, so a host never waits on the identity service.
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
	failures, retryAfter := 0, time.Duration(0) // refreshes failed in a row
	for {
		var wait time.Duration
		switch {
		case failures > 0:
			wait = bearer.BackoffDelay(failures, retryAfter)
		case tok.Expiry.IsZero():
			// A token that never expires needs no successor.
			<-ctx.Done()
			return nil
		default:
			wait = max(bearer.DueAt(tok.Expiry, life, w.buffer).Sub(clock.Now()), minWait)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-clock.After(wait):
		}
		next, err := w.p.Token(ctx, profile, false)
		if err == nil && next == nil {
			err = errNoToken
		}
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err != nil && permanent(w.classify, err):
			return err
		case err != nil, next.AccessToken == tok.AccessToken:
			// Failed, or the due token served again through a failure
			// or the cache's back-off: the host keeps its token.
			failures, retryAfter = failures+1, bearer.RetryAfter(err)
			logFailure(log, profile, failures, err)
			continue
		}
		failures = 0
		if err := send(next); err != nil {
			return err
		}
		tok, life = next, lifetimeOf(next, clock.Now())
	}
}

// logFailure logs the n-th refresh in a row that failed with err, or that
// got the due token again (err nil): a warning for the first of a run, so
// that an outage does not flood the host's log, then at debug level.
func logFailure(log hclog.Logger, profile string, n int, err error) {
	msg, args := "token refresh failed; the host keeps the current token", []any{"profile", profile, "failures", n}
	if err != nil {
		args = append(args, "error", err.Error())
	} else {
		msg = "the token is due, but the cache serves it again (its refresh failed, or it is backing off); the host keeps it"
	}
	if n == 1 {
		log.Warn(msg, args...)
	} else {
		log.Debug(msg, args...)
	}
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
