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
)

// ProveFor bounds how long [Prove] retries a rejected new key, within its
// context's deadline.
const ProveFor = 20 * time.Second

// Prove exchanges a new key (creds, with its secret) for a token, as a
// rotation must before it relies on the key: a key that does not produce a
// token is not switched to, and the old one is kept. A new key may take a
// moment to be accepted everywhere, so a rejection is tried again, with
// growing waits, for up to [ProveFor] or until ctx ends (as aws-vault waits
// for a new AWS key); a transient failure is retried by the exchange itself
// (auth.Source, with opts). The error is the last rejection when ctx ended
// after one, else the last attempt's.
func Prove(ctx context.Context, creds auth.Credentials, opts ...auth.Option) (*oauth2.Token, error) {
	src, err := auth.NewSource(creds, opts...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, ProveFor)
	defer cancel()
	var rejected error
	for wait := proveFirstWait; ; wait = min(2*wait, proveMaxWait) {
		tok, err := src.TokenContext(ctx)
		switch {
		case err == nil:
			return tok, nil
		case ctx.Err() != nil && rejected != nil:
			return nil, rejected
		case !auth.IsRejected(err):
			return nil, err
		}
		rejected = err
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, rejected
		case <-t.C:
		}
	}
}
