package bearer

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// The back-off after failed refreshes. A refresh that fails for a transient
// reason is not tried again at once by the next caller: every holder of a
// token (the cache, shared by every process of a user; the plugin's watch;
// the Vault engine) waits [BackoffDelay] after the n-th failure in a row
// before asking again, and serves the still-valid token it holds, or the
// last failure, meanwhile. So a crowd of callers during an outage costs the
// identity service one attempt per step, not one or five per call.
const (
	// BackoffBase is the longest wait after the first failure; it doubles
	// with each failure in a row, up to BackoffCap.
	BackoffBase = time.Second
	// BackoffCap caps every wait, a server's Retry-After included: after
	// the service recovers, callers with no valid token go on failing at
	// once for at most this long.
	BackoffCap = 30 * time.Second
	// CoveredBudget bounds a refresh made while a still-valid token is held
	// to serve if it fails (see [WithSingleAttempt]): a couple of seconds,
	// not the whole --timeout, since the caller has a token to go on with.
	CoveredBudget = 2 * time.Second
)

// BackoffSpan is the range [BackoffDelay] picks from after the n-th
// transient failure in a row (n from 1), when the server asked for
// retryAfter (zero: it did not): half to all of BackoffBase·2^(n-1), at
// most [BackoffCap], but never less than retryAfter (itself capped).
// Half is always waited, the other half is random ("equal jitter"), so
// that machines failing together do not come back together.
func BackoffSpan(n int, retryAfter time.Duration) (lo, hi time.Duration) {
	hi = BackoffCap
	if n < 1 {
		n = 1
	}
	if n <= 32 {
		if d := BackoffBase << (n - 1); d > 0 && d < BackoffCap {
			hi = d
		}
	}
	lo = hi / 2
	if r := min(retryAfter, BackoffCap); r > 0 {
		lo, hi = max(lo, r), max(hi, r)
	}
	return lo, hi
}

// BackoffDelay is a random wait in [BackoffSpan] of n and retryAfter.
func BackoffDelay(n int, retryAfter time.Duration) time.Duration {
	lo, hi := BackoffSpan(n, retryAfter)
	return lo + rand.N(hi-lo+1)
}

// Backoff is the record of refreshes failing in a row: what a holder of
// tokens keeps (the cache beside its entry, for every process) to know
// when it may ask again. The zero Backoff is no failure.
type Backoff struct {
	// Failures counts the transient failures in a row.
	Failures int
	// Failed is when the last one happened.
	Failed time.Time
	// NotBefore is when the next attempt may be made.
	NotBefore time.Time
}

// Next is the record after a transient failure at now, following b (the
// zero Backoff, or a record whose wait ended more than [BackoffCap] ago,
// starts the count again), when the server asked for retryAfter. valid,
// when not zero, is the expiry of the token served meanwhile: the wait
// ends by then, so that once the token has expired a caller makes a full
// attempt rather than being told the last failure.
func (b Backoff) Next(now time.Time, retryAfter time.Duration, valid time.Time) Backoff {
	n := 1
	if b.Failures > 0 && b.Plausible(now) && now.Sub(b.NotBefore) <= BackoffCap {
		n = b.Failures + 1
	}
	nb := now.Add(BackoffDelay(n, retryAfter))
	if !valid.IsZero() && valid.Before(nb) {
		nb = valid
		if nb.Before(now) {
			nb = now
		}
	}
	return Backoff{Failures: n, Failed: now, NotBefore: nb}
}

// Plausible reports whether b can be believed on now's clock: a record
// written more than [MaxClockStep] in the future, or whose wait is longer
// than [BackoffCap] (from when it was written, or from now), was written by
// a clock since set back, or by something else: it is ignored, costing one
// attempt, rather than holding every caller off for as long as it says.
func (b Backoff) Plausible(now time.Time) bool {
	return b.Failures > 0 && b.Failed.Sub(now) <= MaxClockStep && !b.NotBefore.Before(b.Failed) &&
		b.NotBefore.Sub(b.Failed) <= BackoffCap && b.NotBefore.Sub(now) <= BackoffCap
}

// Holds reports whether b forbids an attempt at now: it is plausible and
// its wait has not ended.
func (b Backoff) Holds(now time.Time) bool { return b.Plausible(now) && now.Before(b.NotBefore) }

// RetryAfter is how long the error err says not to ask again: the first
// error in its chain with a RetryAfter() time.Duration method (the DT
// exchange's error, from a 429 or 503 answer's Retry-After header; a
// cache's back-off error), or zero.
func RetryAfter(err error) time.Duration {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		return max(ra.RetryAfter(), 0)
	}
	return 0
}

type singleAttemptKey struct{}

// WithSingleAttempt marks ctx as a refresh covered by a still-valid token
// that its caller serves if the refresh fails: an upstream asked with it
// makes one attempt, without retries of its own (the back-off above is
// the retry), within the deadline the caller set ([CoveredBudget]). The
// DT exchange (auth.Source) honours it.
func WithSingleAttempt(ctx context.Context) context.Context {
	return context.WithValue(ctx, singleAttemptKey{}, true)
}

// SingleAttempt reports whether ctx was marked by [WithSingleAttempt].
func SingleAttempt(ctx context.Context) bool {
	v, _ := ctx.Value(singleAttemptKey{}).(bool)
	return v
}
