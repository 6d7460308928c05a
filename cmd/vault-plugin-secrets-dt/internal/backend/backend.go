// Package backend is the Vault secrets engine for Disruptive Technologies
// service accounts: Vault holds each account's secret, seal-wrapped, and
// hands out the short-lived access tokens it exchanges for, so the machines
// that read them never hold the secret.
//
// It is the DT counterpart of Vault's GCP engine's access tokens: a read of
// token/<name> returns an access token and its expiry, with no lease (a DT
// token cannot be revoked, so there is nothing for a lease to do). Tokens
// are cached per account in the engine's memory and refreshed once for all
// concurrent readers, so a fleet reading token/<name> costs DT one token
// request per token lifetime, far under DT's documented rate limit.
package backend

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
)

// accountPrefix is the storage and API prefix of the service accounts. It
// is declared seal-wrapped: on a seal that supports it, Vault encrypts the
// entries (which hold the secret) with the seal as well as the barrier.
const accountPrefix = "accounts/"

// Options change how the engine reaches DT; the zero value is production.
type Options struct {
	// SourceOptions are passed to auth.NewSource for every token request
	// (an HTTP client, retries, a clock), for tests.
	SourceOptions []auth.Option
	// Now is the clock deciding when a cached token is due; nil is time.Now.
	Now func() time.Time
}

// Factory is the logical.Factory Vault calls to mount the engine.
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := New(Options{})
	if err := b.Setup(ctx, conf); err != nil {
		return nil, err
	}
	return b, nil
}

// Backend is the engine: a framework.Backend with a per-account token cache.
type Backend struct {
	*framework.Backend

	opts Options
	now  func() time.Time

	mu     sync.Mutex
	tokens map[string]*tokenCache // by account name
}

// New returns an engine not yet set up; call its Setup, as Factory does.
func New(opts Options) *Backend {
	b := &Backend{opts: opts, now: opts.Now, tokens: make(map[string]*tokenCache)}
	if b.now == nil {
		b.now = time.Now
	}
	b.Backend = &framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeLogical,
		PathsSpecial: &logical.Paths{
			SealWrapStorage: []string{accountPrefix},
		},
		Paths: []*framework.Path{
			b.pathAccountsList(),
			b.pathAccounts(),
			b.pathToken(),
		},
		Invalidate: b.invalidate,
	}
	return b
}

// invalidate is called by Vault when a storage key changed elsewhere (another
// node of a cluster wrote it): a changed account must not serve the token of
// its old credentials.
func (b *Backend) invalidate(_ context.Context, key string) {
	if name, ok := strings.CutPrefix(key, accountPrefix); ok {
		b.forget(name)
	}
}

// forget drops the cached token of the account name.
func (b *Backend) forget(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.tokens, name)
}

// cache returns the token cache of the account name for creds, replacing one
// made for other credentials: a cached token belongs to the exact account
// that obtained it, whichever way the account changed.
func (b *Backend) cache(name string, creds auth.Credentials) *tokenCache {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.tokens[name]
	if c == nil || c.creds != creds {
		c = &tokenCache{creds: creds, sem: make(chan struct{}, 1)}
		b.tokens[name] = c
	}
	return c
}

// tokenCache holds one account's current token.
type tokenCache struct {
	creds auth.Credentials
	// sem makes the refresh single-flight; a channel rather than a mutex so
	// that a waiter whose request ends stops waiting.
	sem chan struct{}

	mu  sync.Mutex
	tok *oauth2.Token
}

func (c *tokenCache) get() *oauth2.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tok
}

func (c *tokenCache) set(tok *oauth2.Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tok = tok
}

// fresh reports whether tok can be served at now. The buffer is the CLI's,
// auth.DefaultRefreshBuffer, but at most half the token's lifetime: a token
// granted for less than twice the buffer would otherwise be refreshed on
// every read, and the engine exists to keep DT's request rate down.
func fresh(tok *oauth2.Token, now time.Time) bool {
	buffer := auth.DefaultRefreshBuffer
	if life := time.Duration(tok.ExpiresIn) * time.Second; life > 0 && life/2 < buffer {
		buffer = life / 2
	}
	return auth.Fresh(tok, buffer, now)
}

// token returns a fresh token for the account, refreshing it once for all
// concurrent callers; on a transient failure a cached token that has not yet
// expired is served.
func (b *Backend) token(ctx context.Context, name string, creds auth.Credentials) (*oauth2.Token, error) {
	c := b.cache(name, creds)
	if tok := c.get(); tok != nil && fresh(tok, b.now()) {
		return tok, nil
	}
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	case <-ctx.Done():
		return nil, logical.CodedError(http.StatusServiceUnavailable, "waiting for the token of account "+name+": "+ctx.Err().Error())
	}
	cached := c.get()
	if cached != nil && fresh(cached, b.now()) {
		return cached, nil // another reader refreshed it while we waited
	}
	src, err := auth.NewSource(creds, b.opts.SourceOptions...)
	if err != nil {
		return nil, logical.CodedError(http.StatusBadRequest, "account "+name+": "+err.Error())
	}
	tok, err := src.TokenContext(ctx)
	if err != nil {
		if cached != nil && auth.IsTransient(err) && cached.Expiry.After(b.now()) {
			b.Logger().Warn("token refresh failed; serving the cached token until it expires",
				"account", name, "key_id", creds.KeyID, "expires_at", cached.Expiry.UTC().Format(time.RFC3339), "error", err.Error())
			return cached, nil
		}
		return nil, classify(name, err)
	}
	c.set(tok)
	return tok, nil
}

// classify turns a token request failure into the HTTP status a Vault user
// expects. The *auth.Error message names the key id and the endpoint and
// never the secret, the assertion or a token. Coded errors are returned
// unwrapped: the plugin protocol carries the code only of an error that is
// itself a logical.HTTPCodedError.
func classify(name string, err error) error {
	msg := "account " + name + ": " + err.Error()
	switch {
	case auth.IsRejected(err):
		return logical.CodedError(http.StatusBadRequest, msg)
	case auth.IsTransient(err):
		return logical.CodedError(http.StatusServiceUnavailable, msg)
	default:
		// DT answered with something that is not a token: a bad gateway.
		return logical.CodedError(http.StatusBadGateway, msg)
	}
}

const backendHelp = `
The DT secrets engine turns Disruptive Technologies service accounts into
short-lived OAuth2 access tokens for the DT REST API.

An operator writes a service account (key id, email, secret) to
accounts/<name>; Vault keeps the secret seal-wrapped and never returns it.
Machines authorised by policy read token/<name> and get an access token
valid for about an hour, without ever holding the account's secret. The
engine caches each account's token and refreshes it shortly before it
expires, once for all readers.
`
