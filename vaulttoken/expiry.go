package vaulttoken

import (
	"context"
	"time"

	"golang.org/x/oauth2"
)

// capToVaultToken cuts tok's expiry to that of the Vault token it was read
// with, when Vault states it, so that a cache never serves a DT token to
// this Vault identity longer than Vault would have let it read one: for a
// token from our JWT login, the login's lease; otherwise what
// auth/token/lookup-self says is left of it, asked after each read (the
// token may have been renewed meanwhile). A token that never expires, or
// one that may not look itself up (no default policy), or a lookup that
// fails, leaves tok as it is: the read succeeded, and the cap only ever
// shortens. It runs under sem, after a successful read.
func (s *Source) capToVaultToken(ctx context.Context, tok *oauth2.Token) {
	var limit time.Time
	if s.loginToken {
		limit = s.loginExpiry // zero for a lease without end
	} else {
		start := s.now()
		secret, err := s.client.Auth().Token().LookupSelfWithContext(ctx)
		if err != nil || secret == nil {
			s.log.DebugContext(ctx, "the vault token's expiry is unknown: lookup-self failed; the DT token's is kept", "error", err)
			return
		}
		ttl, err := secret.TokenTTL()
		if err != nil || ttl <= 0 {
			return // no expiry: a root or otherwise unending token
		}
		limit = start.Add(ttl)
	}
	if limit.IsZero() || !tok.Expiry.After(limit) {
		return
	}
	s.log.DebugContext(ctx, "the DT token is kept no longer than the vault token it was read with", "expires_at", limit.UTC().Format(time.RFC3339))
	tok.Expiry = limit
	tok.ExpiresIn = 0
	if left := limit.Sub(s.now()); left > 0 {
		tok.ExpiresIn = int64(left / time.Second)
	}
}
