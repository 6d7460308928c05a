package serviceaccount

import (
	"context"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
)

// Waits of [Prove] between rejections of a new key.
const (
	proveFirstWait = 250 * time.Millisecond
	proveMaxWait   = 2 * time.Second
	// ProveFor bounds how long [Prove] retries a rejected new key, within
	// its context's deadline.
	ProveFor = 20 * time.Second
)

// Prove exchanges a new key (creds, with its secret) for a token, as a
// rotation must before it relies on the key: a key that does not produce a
// token is not switched to, and the old one is kept. A new key may take a
// moment to be accepted everywhere, so a rejection is tried again, with
// growing waits, for up to [ProveFor] or until ctx ends (as aws-vault waits
// for a new AWS key); a transient failure is retried by the exchange
// itself (auth.Source, with opts). The error is the last attempt's.
func Prove(ctx context.Context, creds auth.Credentials, opts ...auth.Option) (*oauth2.Token, error) {
	src, err := auth.NewSource(creds, opts...)
	if err != nil {
		return nil, err
	}
	giveUp := time.Now().Add(ProveFor)
	wait := proveFirstWait
	for {
		tok, err := src.TokenContext(ctx)
		if err == nil || !auth.IsRejected(err) || time.Now().Add(wait).After(giveUp) {
			return tok, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		wait = min(2*wait, proveMaxWait)
	}
}
