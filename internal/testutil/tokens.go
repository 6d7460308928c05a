package testutil

import (
	"context"

	"golang.org/x/oauth2"
)

// FakeTokens stands in for the cached token source that the git and docker
// protocols are handed as their hosts.Tokens; it records calls so tests can
// prove that no token is requested for other hosts. It is not safe for
// concurrent use.
type FakeTokens struct {
	Tok         *oauth2.Token // what Token returns
	Err         error         // what Token and Invalidate return
	TokenCalls  []string      // profiles Token was asked for
	Invalidated [][2]string   // {profile, token} of each Invalidate call
}

// Token records profile and returns Tok and Err.
func (p *FakeTokens) Token(_ context.Context, profile string) (*oauth2.Token, error) {
	p.TokenCalls = append(p.TokenCalls, profile)
	return p.Tok, p.Err
}

// Invalidate records profile and token and returns Err.
func (p *FakeTokens) Invalidate(_ context.Context, profile, token string) error {
	p.Invalidated = append(p.Invalidated, [2]string{profile, token})
	return p.Err
}
