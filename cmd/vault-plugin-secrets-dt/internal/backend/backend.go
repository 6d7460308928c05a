// Package backend is the Vault secrets engine for Disruptive Technologies
// service accounts: Vault holds each account's secret, seal-wrapped, and
// hands out the short-lived access tokens it exchanges for, so the machines
// that read them never hold the secret.
//
// It is the DT counterpart of Vault's GCP engine's access tokens: a read of
// token/<name> returns an access token and its expiry, with no lease (a DT
// token cannot be revoked, so there is nothing for a lease to do). Tokens
// are cached per account in the engine's memory and refreshed once for all
// concurrent readers, and on a cluster only by the active node, which shares
// each one through the engine's replicated storage (see shared.go); so a
// fleet reading token/<name> through any node costs DT one token request
// per token lifetime, far under DT's documented rate limit.
package backend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/bearer"
	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/serviceaccount"
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
	// KeyAPIOptions are passed to serviceaccount.NewClient for a
	// rotation's requests to DT's API (an HTTP client), for tests.
	KeyAPIOptions []serviceaccount.Option
	// ProveFor bounds how long a rotation waits for a new key to obtain a
	// token; zero is serviceaccount.ProveFor.
	ProveFor time.Duration
	// Now is the clock deciding when a cached token is due and a rotation
	// too; nil is time.Now.
	Now func() time.Time

	// interrupt, when it returns true, stops a rotation at the step it
	// names as a node dying there would: nothing more is done or undone
	// (tests of crash safety).
	interrupt func(step string) bool
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
	// cfg is dt/config as last read, nil when it must be read again;
	// cfgGen counts its changes, so that a read racing a change is not kept.
	cfg    *engineConfig
	cfgGen uint64
	// rotating are the accounts a rotation runs for on this instance.
	rotating map[string]bool

	// accountsMu orders the changes to account entries made on this node
	// (writes, deletes, a rotation's steps), each a read, a change and a
	// write: every one is made on the active node.
	accountsMu sync.Mutex
	// node names this instance of the engine in rotation leases.
	node string
}

// New returns an engine not yet set up; call its Setup, as Factory does.
func New(opts Options) *Backend {
	b := &Backend{opts: opts, now: opts.Now, tokens: make(map[string]*tokenCache), rotating: make(map[string]bool), node: instanceName()}
	if b.now == nil {
		b.now = time.Now
	}
	b.Backend = &framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeLogical,
		PathsSpecial: &logical.Paths{
			SealWrapStorage: []string{accountPrefix, tokenPrefix},
		},
		Paths: []*framework.Path{
			b.pathConfig(),
			b.pathAccountsList(),
			b.pathAccounts(),
			b.pathRotate(),
			b.pathToken(),
		},
		Invalidate:   b.invalidate,
		PeriodicFunc: b.periodic,
	}
	return b
}

// invalidate is called by Vault when a storage key changed elsewhere (another
// node of a cluster wrote it): a changed account must not serve the token of
// its old credentials, and a changed dt/config applies at once.
func (b *Backend) invalidate(_ context.Context, key string) {
	if name, ok := strings.CutPrefix(key, accountPrefix); ok {
		b.forget(name)
	}
	if key == configKey {
		b.forgetConfig()
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
	// backoff is the run of refreshes that failed for a transient reason,
	// and failure what the last one told its reader: while the back-off
	// holds, readers get the cached token while it is valid, else the
	// failure, without DT being asked (see backoff.go).
	backoff bearer.Backoff
	failure string
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

// fresh reports whether tok can be served at now, by the rule the command
// and its cache follow (bearer.Fresh) with the default buffer, which is cut
// to half the token's lifetime (ExpiresIn, as DT granted it): a token
// granted for less than twice the buffer would otherwise be refreshed on
// every read, and the engine exists to keep DT's request rate down.
func fresh(tok *oauth2.Token, now time.Time) bool {
	return tok.AccessToken != "" && bearer.Fresh(tok.Expiry, time.Duration(tok.ExpiresIn)*time.Second, 0, now)
}

// token returns a fresh token for the account: from memory, else from the
// token the active node shared, else (on the active node only) from DT, once
// for all concurrent callers, shared with the other nodes. A standby that
// has no fresh token asks Vault to forward the read to the active node. On
// a transient failure a cached token that has not yet expired is served,
// and the back-off after the failure (bearer's rule, as the helper's cache
// follows it) holds DT off: until it ends, readers get the cached token, or
// the failure, at once. A refresh with a valid token to fall back on makes
// a single attempt within bearer.CoveredBudget.
func (b *Backend) token(ctx context.Context, s logical.Storage, name string, creds auth.Credentials) (*oauth2.Token, error) {
	c := b.cache(name, creds)
	if tok := c.get(); tok != nil && fresh(tok, b.now()) {
		return tok, nil
	}
	if tok, held, err := c.heldOff(b.now()); held {
		return tok, err
	}
	release, tok, err := c.enter(ctx, name, b.now())
	if release == nil {
		return tok, err // a still-valid token, while another reader refreshes
	}
	defer release()
	cached := c.get()
	if cached != nil && fresh(cached, b.now()) {
		return cached, nil // another reader refreshed it while we waited
	}
	if shared := b.loadShared(ctx, s, name, creds); shared != nil && (cached == nil || shared.Expiry.After(cached.Expiry)) {
		c.set(shared)
		if cached = shared; fresh(cached, b.now()) {
			return cached, nil
		}
	}
	if b.standby() {
		return nil, fmt.Errorf("account %s: the active node refreshes its token: %w", name, errForward)
	}
	if tok, held, err := c.heldOff(b.now()); held {
		return tok, err // another reader failed while we waited
	}
	src, err := auth.NewSource(creds, b.opts.SourceOptions...)
	if err != nil {
		return nil, b.classify(name, err)
	}
	valid := cached != nil && cached.Expiry.After(b.now())
	tok, err = fetch(ctx, src, valid)
	if err != nil {
		return b.failed(ctx, c, name, err, cached, valid)
	}
	c.succeed(tok)
	b.share(ctx, s, name, creds, tok)
	return tok, nil
}

// classify turns a token request failure into the error a reader of
// token/<name> gets, with the HTTP status a Vault user expects, and logs the
// failure in full. Coded errors are returned unwrapped: the plugin protocol
// carries the code only of an error that is itself a logical.HTTPCodedError.
func (b *Backend) classify(name string, err error) error {
	// The full error holds a sanitized, bounded excerpt of the answer (auth
	// makes it with auth.Sanitize): for the operator's log only.
	b.Logger().Warn("token request failed", "account", name, "error", err.Error())
	msg := "account " + name + ": " + readerMessage(err)
	switch {
	case misconfig.Is(err):
		// The account as written (package misconfig): what is wrong with
		// it is the writer's to fix, and no endpoint answered, so the
		// reader may see it.
		return logical.CodedError(http.StatusBadRequest, "account "+name+": "+err.Error())
	case auth.IsRejected(err):
		return logical.CodedError(http.StatusBadRequest, msg)
	case auth.IsTransient(err):
		return logical.CodedError(http.StatusServiceUnavailable, msg)
	default:
		// DT answered with something that is not a token: a bad gateway.
		return logical.CodedError(http.StatusBadGateway, msg)
	}
}

// readerMessage describes a failed token request to a reader of
// token/<name>: the endpoint, the key id, the HTTP status and a standard
// OAuth error code, never a word of what the endpoint wrote. Whoever may
// write an account chooses its endpoint, and an answer repeated to them
// would make the engine a way to read services only Vault can reach.
func readerMessage(err error) string {
	var e *auth.Error
	if !errors.As(err, &e) {
		return "the token request failed (the Vault server's log has the details)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "token request to %s for key id %s failed", e.Endpoint, e.KeyID)
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	switch r := e.Retrieve; {
	case r != nil && r.Response != nil:
		fmt.Fprintf(&b, ": HTTP %d", r.Response.StatusCode)
		if oauthErrorCodes[r.ErrorCode] {
			b.WriteString(" " + r.ErrorCode)
		}
	case e.Err != nil:
		b.WriteString(": " + transportProblem(e.Err))
	}
	switch e.Kind {
	case auth.Rejected:
		b.WriteString(": the credentials were rejected, check the key id, email and secret, and the Vault host's clock")
	case auth.BadResponse:
		if r := e.Retrieve; r != nil && r.Response != nil && r.Response.StatusCode == http.StatusOK {
			b.WriteString(": the answer is not a usable token")
		}
	}
	b.WriteString(" (the Vault server's log has the details)")
	return b.String()
}

// oauthErrorCodes are the error codes of RFC 6749 (sections 4.1.2.1 and
// 5.2): the only ones a reader is told, as any other string is the
// endpoint's own text.
var oauthErrorCodes = map[string]bool{
	"invalid_request": true, "invalid_client": true, "invalid_grant": true,
	"unauthorized_client": true, "unsupported_grant_type": true, "invalid_scope": true,
	"access_denied": true, "unsupported_response_type": true,
	"server_error": true, "temporarily_unavailable": true,
}

// transportProblem names what went wrong with a request that got no whole
// answer, in words of its own: Go's messages may quote what the peer sent
// (a malformed response's first line, a certificate's names).
func transportProblem(err error) string {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "no answer in time"
	case errors.As(err, &dnsErr):
		return "the host name did not resolve"
	case errors.As(err, &certErr):
		return "its certificate did not verify"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "could not connect"
	}
	return "the connection failed"
}

const backendHelp = `
The DT secrets engine turns Disruptive Technologies service accounts into
short-lived OAuth2 access tokens for the DT REST API.

An operator writes a service account (key id, email, secret) to
accounts/<name>; Vault keeps the secret seal-wrapped and never returns it.
Machines authorised by policy read token/<name> and get an access token
valid for about an hour, without ever holding the account's secret. The
engine caches each account's token and refreshes it shortly before it
expires, once for all readers. accounts/<name>/rotate, or the account's
rotation_period, replaces the key with one the engine creates through DT's
API, whose secret nobody ever sees.
`
