package backend

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func (b *Backend) pathToken() *framework.Path {
	return &framework.Path{
		Pattern: "token/" + framework.GenericNameRegex("name"),
		Fields:  accountNameField(),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{Callback: b.readToken},
		},
		HelpSynopsis:    "Generate an OAuth2 access token for a DT service account.",
		HelpDescription: strings.TrimSpace(tokenHelp),
	}
}

// accountNameField is the one field of a path under an account (its token,
// its rotation): the account's name.
func accountNameField() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"name": {
			Type:        framework.TypeString,
			Description: "Required. Name of the service account, as written to accounts/<name>.",
		},
	}
}

const tokenHelp = `
This path generates an OAuth2 access token for the DT REST API from the
service account written to accounts/<name>. The token is returned in
access_token, with token_type (Bearer), expires_at (RFC 3339, UTC) and ttl
(whole seconds left):

    $ vault read dt/token/prod

Access tokens are not leased and cannot be revoked: they expire on their own,
about an hour after DT issued them. The engine caches each account's token and
returns the same token to every reader until less than a minute (at most half
its lifetime) is left, then gets a new one, once for all concurrent readers;
so a fleet costs DT one token request per token lifetime. On a cluster only
the active node asks DT and it shares each token, seal-wrapped, through
Vault's replicated storage: a standby returns that token, and forwards the
read to the active node when it has no fresh one (or does not see the
account yet); a node that becomes active starts from it. If DT cannot be
reached, a cached token that has not yet expired is still returned; after a
failed request the engine waits (1s doubling to 30s, or DT's Retry-After)
before asking DT again, returning the cached token, or the same error, at
once meanwhile.

Errors: a service account DT rejects is a 400 naming its key id; DT
unreachable or failing (after retries) is a 503; a response from DT that is
not a token is a 502.
`

func (b *Backend) readToken(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	a, refusal, err := b.tokenAccount(ctx, req.Storage, name)
	if refusal != nil || err != nil {
		return refusal, err
	}
	tok, err := b.token(ctx, req.Storage, name, a.credentials())
	if err != nil {
		// A rotation may have switched the account to a new key, and
		// deleted the old one, since it was read: the key stored now is
		// the one to use, once.
		now, refusal, rerr := b.tokenAccount(ctx, req.Storage, name)
		if rerr != nil || refusal != nil || now.credentials() == a.credentials() {
			return nil, err
		}
		if tok, err = b.token(ctx, req.Storage, name, now.credentials()); err != nil {
			return nil, err
		}
	}
	ttl := max(tok.Expiry.Sub(b.now()), 0)
	return &logical.Response{Data: map[string]any{
		"access_token": tok.AccessToken,
		"token_type":   tok.Type(),
		"expires_at":   tok.Expiry.UTC().Format(time.RFC3339),
		"ttl":          int64(ttl / time.Second),
	}}, nil
}

// tokenAccount reads account name for a token read: nil with a refusal or
// an error when there is none to use.
func (b *Backend) tokenAccount(ctx context.Context, s logical.Storage, name string) (*account, *logical.Response, error) {
	a, err := b.getAccount(ctx, s, name)
	if err != nil {
		return nil, nil, err
	}
	if a == nil {
		if b.standby() {
			// Written through the active node, perhaps, and not
			// replicated here yet: the active node knows.
			return nil, nil, fmt.Errorf("account %s is not on this standby: %w", name, errForward)
		}
		return nil, logical.ErrorResponse("account %q does not exist", name), nil
	}
	// Again at each read: dt/config may have changed since the account was
	// written.
	cfg, err := b.config(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	if err := cfg.allows(a.TokenEndpoint); err != nil {
		return nil, logical.ErrorResponse("account %s: %s", name, err.Error()), nil
	}
	return a, nil, nil
}
