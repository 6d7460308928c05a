// Package vaulttoken reads Disruptive Technologies access tokens from a
// Vault (or OpenBao) path served by the vault-plugin-secrets-dt engine, so
// that a machine holds only its Vault identity and never a DT secret.
//
// A [Source] is a context-aware oauth2.TokenSource, the upstream that the
// keyring package caches, as the DT exchange is for a machine holding the
// secret itself:
//
//	src, err := vaulttoken.NewSource(vaulttoken.Config{Path: "dt/token/prod"})
//	...
//	tok, err := src.TokenContext(ctx)
//
// The Vault client takes the standard Vault environment: VAULT_ADDR (or
// VAULT_AGENT_ADDR, a Vault agent's, unix:// included), VAULT_PROXY_ADDR,
// VAULT_CACERT (and the other VAULT_* TLS variables), VAULT_NAMESPACE, and a
// token from VAULT_TOKEN or else ~/.vault-token (a private file of the
// user's), as the vault CLI does. Before a Vault token or a JWT is sent, the
// rules of package vaultenv are applied to the address and proxy the client
// really uses and to whom each connection reaches, and every response body
// is bounded. A
// machine with no Vault token but a JWT it already holds (a Kubernetes
// projected service-account token, a CI system's OIDC token) logs in with
// Vault's JWT auth method instead: set [Config.JWTFile] and [Config.Role].
// The Vault token that login returns lives in the Source's memory only,
// and is obtained again when it nears its end.
package vaulttoken

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/bearer"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// Config says where the token is read and how the Source authenticates.
type Config struct {
	// Path is the engine's token path, mount included: "dt/token/prod".
	Path string

	// JWTFile, when set, makes the Source log in with Vault's JWT auth
	// method using the JWT in this file (read again at every login, as
	// Kubernetes rotates projected tokens) and Role, instead of using a
	// Vault token from the environment.
	JWTFile string
	// Role is the JWT auth method's role to log in as; required with JWTFile.
	Role string
	// AuthMount is the JWT auth method's mount path; empty means
	// vaultenv.DefaultAuthMount.
	AuthMount string

	// Client is the Vault client to use, as it is; nil means one made from
	// the standard Vault environment, held to package vaultenv's rules.
	// The Source sets its token.
	Client *api.Client
	// Now is the clock deciding when a Vault token from a login is due;
	// nil means time.Now.
	Now func() time.Time
	// Log receives each step (login, read, their outcome) at debug level;
	// nil discards. No token or JWT is ever logged.
	Log *slog.Logger
}

// Source reads DT access tokens from Vault. It is safe for concurrent use.
type Source struct {
	path      string
	jwtFile   string
	role      string
	authMount string
	client    *api.Client // nil until the first call, unless given
	addr      string      // the client's address, for errors
	ready     bool        // setup has succeeded
	now       func() time.Time
	log       *slog.Logger

	// sem serialises reads and logins, so concurrent callers log in once;
	// a channel so that a waiter gives up when its context ends.
	sem chan struct{}
	// loginExpiry is when the Vault token from the last JWT login expires
	// (zero before the first login, or for a token that never expires).
	loginToken  bool
	loginExpiry time.Time
	loginTTL    time.Duration
}

// NewSource checks cfg and returns a Source. It neither reads the
// environment nor makes a request: the Vault client is set up at the first
// TokenContext, so that a process whose token cache serves the call pays
// nothing for Vault, and a Vault that is down is reported then, as transient.
func NewSource(cfg Config) (*Source, error) {
	path, err := vaultenv.CheckReference(cfg.Path, cfg.JWTFile, cfg.Role)
	if err != nil {
		return nil, &Error{Kind: Misconfigured, Path: path, Msg: err.Error()}
	}
	s := &Source{
		path:      path,
		jwtFile:   cfg.JWTFile,
		role:      cfg.Role,
		authMount: vaultenv.AuthMount(cfg.AuthMount),
		client:    cfg.Client,
		now:       cfg.Now,
		log:       cfg.Log,
		sem:       make(chan struct{}, 1),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// setup makes the Vault client from the environment, unless one was given,
// and gives it its token. It runs under sem, until it succeeds.
func (s *Source) setup() error {
	if s.ready {
		return nil
	}
	if s.client == nil {
		c, addr, err := newClient()
		if err != nil {
			return &Error{Kind: Misconfigured, Path: s.path, Msg: err.Error(), Err: err}
		}
		s.client, s.addr = c, addr
	} else {
		s.addr = s.client.Address()
	}
	if s.jwtFile != "" {
		// The environment's token is not ours to use when a login is asked
		// for: a stray VAULT_TOKEN would otherwise decide who reads.
		s.client.ClearToken()
	} else if s.client.Token() == "" {
		tok, err := vaultenv.TokenFile(os.Getenv)
		if err != nil {
			return &Error{Kind: Misconfigured, Path: s.path, Addr: s.addr, Msg: "vault: " + err.Error(), Err: err}
		}
		s.client.SetToken(tok)
	}
	s.ready = true
	return nil
}

// newClient makes a Vault client from the standard environment, held to
// package vaultenv's rules, and returns it with the address it uses as the
// environment spells it (a unix:// one included), for messages.
func newClient() (*api.Client, string, error) {
	// Checked first, to name the variable at fault.
	if err := vaultenv.Check(os.Getenv); err != nil {
		return nil, "", err
	}
	// DefaultConfig reads VAULT_ADDR, VAULT_AGENT_ADDR, the proxy and TLS
	// variables; NewClient reads VAULT_TOKEN and VAULT_NAMESPACE.
	conf := api.DefaultConfig()
	if conf.Error != nil {
		return nil, "", fmt.Errorf("vault: the Vault environment: %w", conf.Error)
	}
	// The client would follow a 307 (a standby's redirect to the active
	// node) anywhere, Vault token and JWT included: a Vault that answers
	// one is named directly instead.
	conf.DisableRedirects = true
	// A refusal stays a refusal: asking again would only wait longer.
	conf.CheckRetry = func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		var re *vaultenv.RefusedError
		if errors.As(err, &re) {
			return false, err
		}
		return api.DefaultRetryPolicy(ctx, resp, err)
	}
	c, err := api.NewClient(conf)
	if err != nil {
		return nil, "", fmt.Errorf("vault: the Vault environment: %w", err)
	}
	if err := holdToRules(c, conf); err != nil {
		return nil, "", err
	}
	return c, conf.Address, nil
}

// holdToRules checks what the built client c (made from conf) really
// uses, its address and the proxy for it, so that Vault's client's own
// reading of the environment cannot diverge from vaultenv's; then it makes
// each connection check whom it reaches, and bounds each response body.
func holdToRules(c *api.Client, conf *api.Config) error {
	// NewClient leaves in conf.Address the address it parsed.
	if want := vaultenv.Address(os.Getenv); conf.Address != want {
		return fmt.Errorf("vault: Vault's client chose the address %s, not %s as the environment says", conf.Address, want)
	}
	_, socket, err := vaultenv.ParseAddress(conf.Address)
	if err != nil {
		return fmt.Errorf("vault: the address: %w", err)
	}
	u, err := url.Parse(c.Address())
	if err != nil {
		return fmt.Errorf("vault: the client's address: %w", err)
	}
	if err := vaultenv.CheckAddress(u); err != nil {
		return fmt.Errorf("vault: the client's address %w", err)
	}
	t, ok := conf.HttpClient.Transport.(*http.Transport)
	if !ok {
		return fmt.Errorf("vault: the Vault client's transport is a %T", conf.HttpClient.Transport)
	}
	if socket != "" {
		// Every connection goes to the socket: a proxy would only change
		// the request's form.
		t.Proxy = nil
	}
	if t.Proxy != nil {
		proxy, err := t.Proxy(&http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}})
		if err != nil {
			return fmt.Errorf("vault: the proxy for %s: %w", u.Redacted(), err)
		}
		if err := vaultenv.CheckProxy(u, proxy); err != nil {
			return fmt.Errorf("vault: the client's proxy %w", err)
		}
	}
	t.DialContext = vaultenv.Dialer(u, socket, t.DialContext)
	conf.HttpClient.Transport = vaultenv.BoundBodies(t)
	return nil
}

// Token implements oauth2.TokenSource.
func (s *Source) Token() (*oauth2.Token, error) { return s.TokenContext(context.Background()) }

// TokenContext reads the token path once, logging in first when the Source
// logs in with a JWT and has no Vault token, or one near its end.
func (s *Source) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-ctx.Done():
		return nil, &Error{Kind: Transient, Path: s.path, Addr: s.addr, Msg: "vault: waiting to read " + s.path, Err: ctx.Err()}
	}
	if err := s.setup(); err != nil {
		return nil, err
	}
	if s.jwtFile != "" && s.loginDue() {
		s.log.DebugContext(ctx, "logging in to vault", "addr", s.addr, "mount", s.authMount, "role", s.role)
		if err := s.login(ctx); err != nil {
			return nil, err
		}
	}
	s.log.DebugContext(ctx, "reading the token from vault", "addr", s.addr, "path", s.path)
	secret, err := s.client.Logical().ReadWithContext(ctx, s.path)
	if err != nil && s.loginToken && statusOf(err) == http.StatusForbidden {
		s.log.DebugContext(ctx, "vault refused the token from our login; logging in again", "path", s.path)
		// The token from our login may have been revoked or expired early
		// (a Vault restart, an operator); one new login settles whether
		// it is the token or the policy.
		if lerr := s.login(ctx); lerr != nil {
			return nil, lerr
		}
		secret, err = s.client.Logical().ReadWithContext(ctx, s.path)
	}
	if err != nil {
		return nil, s.classify(ctx, "reading "+s.path, err)
	}
	tok, err := s.parse(secret)
	if err != nil {
		return nil, err
	}
	s.capToVaultToken(ctx, tok)
	s.log.DebugContext(ctx, "token read from vault", "path", s.path, "expires_at", tok.Expiry.UTC().Format(time.RFC3339))
	return tok, nil
}

// loginDue reports whether the Vault token from a login must be replaced:
// none yet, or less than a third of its lifetime left, so that a long-lived
// process (a plugin server) never reads with a token about to expire.
func (s *Source) loginDue() bool {
	if !s.loginToken {
		return true
	}
	if s.loginExpiry.IsZero() {
		return false
	}
	return s.loginExpiry.Sub(s.now()) < s.loginTTL/3
}

// login exchanges the JWT for a Vault token, kept in the client (memory)
// only.
func (s *Source) login(ctx context.Context) error {
	s.client.ClearToken()
	s.loginToken = false
	jwt, err := vaultenv.ReadJWT(s.jwtFile)
	if err != nil {
		// err names the file, never its content.
		return &Error{Kind: Misconfigured, Path: s.path, Msg: "vault: reading the JWT: " + err.Error(), Err: err}
	}
	if jwt == "" {
		return &Error{Kind: Misconfigured, Path: s.path, Msg: "vault: the JWT file " + s.jwtFile + " is empty"}
	}
	loginPath := "auth/" + s.authMount + "/login"
	start := s.now()
	secret, err := s.client.Logical().WriteWithContext(ctx, loginPath, map[string]any{"role": s.role, "jwt": jwt})
	if err != nil {
		return s.classify(ctx, fmt.Sprintf("logging in at %s as role %s", loginPath, s.role), err, jwt)
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return &Error{Kind: BadResponse, Path: s.path, Addr: s.addr, Msg: fmt.Sprintf("vault: logging in at %s as role %s: the response has no token", loginPath, s.role)}
	}
	s.client.SetToken(secret.Auth.ClientToken)
	s.loginToken = true
	s.loginTTL = time.Duration(secret.Auth.LeaseDuration) * time.Second
	s.loginExpiry = time.Time{}
	if s.loginTTL > 0 {
		s.loginExpiry = start.Add(s.loginTTL)
	}
	s.log.DebugContext(ctx, "logged in to vault", "role", s.role, "vault_token_ttl", s.loginTTL, "renewable", secret.Auth.Renewable)
	return nil
}

// parse turns the engine's response into a token, refusing one that is not
// a bearer token (bearer.Check), whatever engine answered.
func (s *Source) parse(secret *api.Secret) (*oauth2.Token, error) {
	fail := func(msg string) error {
		return &Error{Kind: BadResponse, Path: s.path, Addr: s.addr, Msg: "vault: " + s.path + ": " + msg}
	}
	if secret == nil {
		return nil, &Error{Kind: NotFound, Path: s.path, Addr: s.addr,
			Msg: fmt.Sprintf("vault: nothing at %s: check the path (the engine's mount, then token/<account>) and that the account exists", s.path)}
	}
	access, _ := secret.Data["access_token"].(string)
	if access == "" {
		return nil, fail("the response has no access_token: is this a dt engine's token path?")
	}
	if err := bearer.Check(access); err != nil {
		// Not quoted: it could inject into a header or a git or docker
		// reply, and may be a secret all the same.
		return nil, fail("the access token Vault returned is refused: it " + err.Error())
	}
	typ, _ := secret.Data["token_type"].(string)
	if !bearer.IsBearer(typ) {
		return nil, fail("token_type is not Bearer")
	}
	at, _ := secret.Data["expires_at"].(string)
	expiry, err := time.Parse(time.RFC3339, at)
	if err != nil {
		return nil, fail("expires_at is not an RFC 3339 time")
	}
	tok := &oauth2.Token{AccessToken: access, TokenType: "Bearer", Expiry: expiry}
	if left := expiry.Sub(s.now()); left > 0 {
		tok.ExpiresIn = int64(left / time.Second)
	}
	return tok, nil
}

// statusOf is the HTTP status of a Vault response error, 0 for none.
func statusOf(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// classify names what failed and whether trying again may help.
func (s *Source) classify(ctx context.Context, doing string, err error, secrets ...string) error {
	e := &Error{Path: s.path, Addr: s.addr, Err: err}
	var refusal *vaultenv.RefusedError
	if errors.As(err, &refusal) {
		// Nothing was sent: a connection reached whom the rules do not
		// trust.
		e.Kind = Misconfigured
		e.Msg = refusal.Msg
		return e
	}
	if errors.Is(err, vaultenv.ErrResponseTooLarge) {
		// The same Vault will answer the same: not worth retrying.
		e.Kind = BadResponse
		e.Msg = fmt.Sprintf("vault: %s at %s: %v", doing, e.Addr, vaultenv.ErrResponseTooLarge)
		return e
	}
	var re *api.ResponseError
	if errors.As(err, &re) {
		// Not kept: its raw text is Vault's, which may echo the request.
		e.Err = nil
		e.Status = re.StatusCode
		detail := auth.Sanitize([]byte(strings.Join(re.Errors, "; ")), append(secrets, s.client.Token())...)
		switch {
		case re.StatusCode == http.StatusForbidden:
			e.Kind = Denied
			e.Msg = fmt.Sprintf("vault: permission denied %s at %s: this Vault identity's policies do not allow it (a policy needs `read` on %s)", doing, e.Addr, s.path)
			if strings.HasPrefix(doing, "logging in") {
				e.Msg = fmt.Sprintf("vault: %s at %s was refused: %s", doing, e.Addr, detail)
			}
		case re.StatusCode == http.StatusTooManyRequests, re.StatusCode >= 500:
			e.Kind = Transient
			e.Msg = fmt.Sprintf("vault: %s at %s: HTTP %d: %s", doing, e.Addr, re.StatusCode, detail)
		default:
			// 400 and the like: a rejected DT account, a bad login; trying
			// again will not help.
			e.Kind = Rejected
			e.Msg = fmt.Sprintf("vault: %s at %s: HTTP %d: %s", doing, e.Addr, re.StatusCode, detail)
		}
		return e
	}
	// No response. The URL is named already; net/http's "Get URL:" is
	// dropped.
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		cause = ue.Err
	}
	var certErr *tls.CertificateVerificationError
	switch {
	case ctx.Err() != nil:
		e.Kind = Transient
		e.Msg = fmt.Sprintf("vault: %s at %s: no answer within the deadline", doing, e.Addr)
	case errors.As(err, &certErr):
		// An untrusted certificate stays untrusted: not worth retrying,
		// and the fix is on this machine.
		e.Kind = Misconfigured
		e.Msg = fmt.Sprintf("vault: %s at %s: %v (set VAULT_CACERT to the CA that signed Vault's certificate)", doing, e.Addr, cause)
	default:
		// Unreachable, reset, refused: Vault may be back shortly.
		e.Kind = Transient
		e.Msg = fmt.Sprintf("vault: %s at %s: %v", doing, e.Addr, cause)
	}
	return e
}
