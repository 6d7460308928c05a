package authtest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Protocol constants of the DT token exchange, as DT documents them.
const (
	// TokenPath is the path of the token endpoint.
	TokenPath = "/oauth2/token"
	// GrantType is the only grant_type the token endpoint accepts.
	GrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// MaxAssertionLifetime is the largest exp - iat DT accepts in an assertion.
	MaxAssertionLifetime = time.Hour
	// DefaultTokenTTL is the lifetime of issued access tokens unless changed.
	DefaultTokenTTL = time.Hour
	// DefaultMaxSkew is how far in the future an assertion's iat may be.
	DefaultMaxSkew = 60 * time.Second
)

// maxBodyBytes bounds a token request body; real assertions are well under 1 KiB.
const maxBodyBytes = 64 << 10

// Account is a key of a DT service account known to the emulator: the
// keys of one service account share its email.
type Account struct {
	KeyID  string
	Email  string
	Secret string
	// Project and ServiceAccount are the ids the key API addresses the
	// service account by. Empty, they come from the email when it has
	// DT's form (serviceaccount.FromEmail); an account with an email of
	// another form and none is exchangeable, but out of the key API's
	// reach.
	Project        string
	ServiceAccount string
	// CreateTime is when the key was created, as the key API shows it;
	// zero means when the Handler learnt of it.
	CreateTime time.Time
}

// Options configure a Handler. Zero values select the defaults.
type Options struct {
	// TokenURL is the public URL of the token endpoint; an assertion's aud
	// must equal it exactly. Empty means the URL the request was sent to
	// (scheme, Host header and TokenPath), which is right unless a proxy
	// sits in front.
	TokenURL string
	// Accounts are the service accounts that may exchange assertions.
	Accounts []Account
	// TokenTTL is the lifetime of issued tokens; zero means DefaultTokenTTL.
	TokenTTL time.Duration
	// Clock returns the current time (assertion checks, token expiry, the
	// Date header); nil means time.Now.
	Clock func() time.Time
	// MaxSkew is how far iat may lie in the future; zero means
	// DefaultMaxSkew, negative means no allowance at all.
	MaxSkew time.Duration
	// Logf, if set, receives one line per request: method, path and status.
	// It never receives an assertion, secret or token.
	Logf func(format string, args ...any)
}

// TokenInfo describes an access token the emulator issued.
type TokenInfo struct {
	Token     string
	KeyID     string
	Email     string
	IssuedAt  time.Time
	ExpiresAt time.Time
	Revoked   bool
}

// Handler is the emulated DT identity service: the token endpoint at
// TokenPath and a minimal API under /v2/ that checks bearer tokens. It is safe
// for concurrent use, including its setters.
type Handler struct {
	mu       sync.Mutex
	tokenURL string
	accounts map[string]Account
	ttl      time.Duration
	clock    func() time.Time
	maxSkew  time.Duration
	logf     func(format string, args ...any)
	tokens   map[string]*TokenInfo
	faults   []Fault
	always   *Fault
	requests int
	keys     keyAPI

	closeOnce sync.Once
	closed    chan struct{}
}

// NewHandler returns a Handler configured by opts.
func NewHandler(opts Options) *Handler {
	h := &Handler{
		tokenURL: opts.TokenURL,
		accounts: make(map[string]Account),
		ttl:      opts.TokenTTL,
		clock:    opts.Clock,
		maxSkew:  opts.MaxSkew,
		logf:     opts.Logf,
		tokens:   make(map[string]*TokenInfo),
		keys:     newKeyAPI(),
		closed:   make(chan struct{}),
	}
	if h.ttl == 0 {
		h.ttl = DefaultTokenTTL
	}
	if h.clock == nil {
		h.clock = time.Now
	}
	switch {
	case h.maxSkew == 0:
		h.maxSkew = DefaultMaxSkew
	case h.maxSkew < 0:
		h.maxSkew = 0
	}
	now := h.clock()
	for _, a := range opts.Accounts {
		h.addAccountLocked(a, now)
	}
	return h
}

// TokenURL returns the configured public token URL, or "" when it is derived
// from each request.
func (h *Handler) TokenURL() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tokenURL
}

func (h *Handler) setTokenURL(u string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tokenURL = u
}

// AddAccount adds a service account's key, replacing any with the same
// key id.
func (h *Handler) AddAccount(a Account) {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.addAccountLocked(a, now)
}

// SetTokenTTL sets the lifetime of tokens issued from now on.
func (h *Handler) SetTokenTTL(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ttl = d
}

// SetClock sets the clock used for assertion checks, token expiry and the
// Date header; nil restores time.Now. The clock must not call back into the
// Handler.
func (h *Handler) SetClock(clock func() time.Time) {
	if clock == nil {
		clock = time.Now
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clock = clock
}

// SetMaxSkew sets how far in the future an assertion's iat may be; zero or
// negative allows none.
func (h *Handler) SetMaxSkew(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.maxSkew = max(d, 0)
}

func (h *Handler) now() time.Time {
	h.mu.Lock()
	clock := h.clock
	h.mu.Unlock()
	return clock()
}

// Requests returns how many requests reached the token endpoint, whatever
// their outcome, faulted ones included.
func (h *Handler) Requests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests
}

// ResetRequests sets the request count back to zero.
func (h *Handler) ResetRequests() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests = 0
}

// Close makes requests that are waiting out a Fault's Delay give up at once
// by dropping their connections, so that servers shut down fast.
func (h *Handler) Close() {
	h.closeOnce.Do(func() { close(h.closed) })
}

// Valid reports whether token was issued by this Handler and is neither
// expired, by the Handler's clock, nor revoked.
func (h *Handler) Valid(token string) bool {
	return h.check(token) == nil
}

func (h *Handler) check(token string) error {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	info, ok := h.tokens[token]
	switch {
	case !ok:
		return fmt.Errorf("access token unknown")
	case info.Revoked:
		return fmt.Errorf("access token revoked")
	case !now.Before(info.ExpiresAt):
		return fmt.Errorf("access token expired")
	}
	return nil
}

// Authorize checks that r carries "Authorization: Bearer <token>" with a
// token that is Valid. The error says why not, without echoing the token.
func (h *Handler) Authorize(r *http.Request) error {
	token, err := bearerOf(r)
	if err != nil {
		return err
	}
	return h.check(token)
}

// bearerOf is the token r's "Authorization: Bearer" header carries.
func bearerOf(r *http.Request) (string, error) {
	v := r.Header.Get("Authorization")
	if v == "" {
		return "", fmt.Errorf("missing Authorization header")
	}
	scheme, token, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("authorization scheme is not Bearer")
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", fmt.Errorf("empty bearer token")
	}
	return token, nil
}

// Revoke makes token invalid from now on; unknown tokens are ignored.
func (h *Handler) Revoke(token string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if info, ok := h.tokens[token]; ok {
		info.Revoked = true
	}
}

// Token returns what the Handler recorded about an issued token.
func (h *Handler) Token(token string) (TokenInfo, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	info, ok := h.tokens[token]
	if !ok {
		return TokenInfo{}, false
	}
	return *info, true
}

// Tokens returns every token issued so far, in no particular order.
func (h *Handler) Tokens() []TokenInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]TokenInfo, 0, len(h.tokens))
	for _, info := range h.tokens {
		out = append(out, *info)
	}
	return out
}

// ServeHTTP serves the token endpoint and the /v2/ API; every answer's Date
// header is the Handler's clock.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The Date header is the Handler's clock, as a server's is its own: a
	// clock skewed with SetClock is what a client comparing clocks sees.
	w.Header().Set("Date", h.now().UTC().Format(http.TimeFormat))
	sw := &statusWriter{ResponseWriter: w}
	if h.logf != nil {
		start := time.Now()
		// Only method, path and status: the query may hold an assertion
		// sent the wrong way, and headers hold tokens.
		defer func() {
			status := "connection dropped"
			if sw.status != 0 {
				status = fmt.Sprint(sw.status)
			}
			h.logf("%s %q %s %s", r.Method, r.URL.Path, status, time.Since(start).Round(time.Millisecond))
		}()
	}
	switch p := r.URL.Path; {
	case p == TokenPath:
		h.serveToken(sw, r)
	case isKeyPath(p):
		h.serveKeys(sw, r)
	case p == "/v2" || strings.HasPrefix(p, "/v2/"):
		h.serveAPI(sw, r)
	default:
		writeJSON(sw, http.StatusNotFound, map[string]any{"error": "not found", "code": http.StatusNotFound})
	}
}

func (h *Handler) serveAPI(w http.ResponseWriter, r *http.Request) {
	if err := h.Authorize(r); err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]any{
			"error": err.Error(),
			"code":  http.StatusUnauthorized,
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (h *Handler) serveToken(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.requests++
	f, faulted := h.nextFaultLocked()
	h.mu.Unlock()
	if faulted && h.applyFault(w, r, f) {
		return
	}
	h.exchange(w, r)
}

// oauthError is an RFC 6749 section 5.2 error response.
type oauthError struct {
	status      int
	code        string
	description string
}

func badRequest(code, format string, args ...any) *oauthError {
	return &oauthError{http.StatusBadRequest, code, fmt.Sprintf(format, args...)}
}

func (e *oauthError) write(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.description})
}

func (h *Handler) exchange(w http.ResponseWriter, r *http.Request) {
	acct, oerr := h.validate(w, r)
	if oerr != nil {
		oerr.write(w)
		return
	}
	token, err := randomToken()
	if err != nil {
		(&oauthError{http.StatusInternalServerError, "server_error", "cannot generate a token"}).write(w)
		return
	}
	now := h.now()
	h.mu.Lock()
	ttl := h.ttl
	h.tokens[token] = &TokenInfo{
		Token:     token,
		KeyID:     acct.KeyID,
		Email:     acct.Email,
		IssuedAt:  now,
		ExpiresAt: now.Add(ttl),
	}
	h.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": token,
		"token_type":   "bearer",
		"expires_in":   int64(ttl / time.Second),
	})
}

// validate checks the request and its assertion in the order DT would, and
// returns the account the assertion authenticates.
func (h *Handler) validate(w http.ResponseWriter, r *http.Request) (Account, *oauthError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return Account{}, &oauthError{http.StatusMethodNotAllowed, "invalid_request", "the token endpoint accepts POST only"}
	}
	if r.URL.RawQuery != "" {
		return Account{}, badRequest("invalid_request", "query parameters are not supported; send grant_type and assertion in the form body")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return Account{}, badRequest("invalid_request", "Content-Type must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		return Account{}, badRequest("invalid_request", "request body unreadable or larger than %d bytes", maxBodyBytes)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return Account{}, badRequest("invalid_request", "malformed form body")
	}
	for _, name := range []string{"grant_type", "assertion"} {
		if len(form[name]) > 1 {
			return Account{}, badRequest("invalid_request", "parameter %s is repeated", name)
		}
	}
	switch gt := form.Get("grant_type"); gt {
	case "":
		return Account{}, badRequest("invalid_request", "missing grant_type")
	case GrantType:
	default:
		return Account{}, badRequest("unsupported_grant_type", "grant_type must be %s", GrantType)
	}
	assertion := form.Get("assertion")
	if assertion == "" {
		return Account{}, badRequest("invalid_request", "missing assertion")
	}
	return h.verify(assertion, h.audience(r))
}

// audience is the aud an assertion must carry for request r.
func (h *Handler) audience(r *http.Request) string {
	if u := h.TokenURL(); u != "" {
		return u
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + TokenPath
}

func (h *Handler) verify(assertion, aud string) (Account, *oauthError) {
	// The header is read by hand first so that a wrong alg or an unknown kid
	// gets a precise answer rather than a generic parse failure.
	header, err := decodeHeader(assertion)
	if err != nil {
		return Account{}, badRequest("invalid_grant", "assertion is not a well-formed JWT")
	}
	if header.Alg != "HS256" {
		return Account{}, badRequest("invalid_grant", "assertion alg %s is not supported; sign with HS256", clip(header.Alg))
	}
	if header.Kid == "" {
		return Account{}, badRequest("invalid_grant", "assertion header has no kid")
	}
	h.mu.Lock()
	acct, known := h.accounts[header.Kid]
	skew := h.maxSkew
	h.mu.Unlock()
	if !known {
		return Account{}, &oauthError{http.StatusUnauthorized, "invalid_client", fmt.Sprintf("unknown key id %s", clip(header.Kid))}
	}

	var claims jwt.RegisteredClaims
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithoutClaimsValidation())
	_, err = parser.ParseWithClaims(assertion, &claims, func(*jwt.Token) (any, error) {
		return []byte(acct.Secret), nil
	})
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return Account{}, badRequest("invalid_grant", "assertion signature is invalid for key id %s", clip(acct.KeyID))
	default:
		return Account{}, badRequest("invalid_grant", "assertion is not a well-formed JWT")
	}

	if claims.Issuer != acct.Email {
		return Account{}, badRequest("invalid_grant", "iss %s is not the email of key id %s", clip(claims.Issuer), clip(acct.KeyID))
	}
	if len(claims.Audience) != 1 || claims.Audience[0] != aud {
		return Account{}, badRequest("invalid_grant", "aud must be exactly %s", aud)
	}
	if claims.IssuedAt == nil {
		return Account{}, badRequest("invalid_grant", "assertion has no iat")
	}
	if claims.ExpiresAt == nil {
		return Account{}, badRequest("invalid_grant", "assertion has no exp")
	}
	iat, exp := claims.IssuedAt.Time, claims.ExpiresAt.Time
	if !exp.After(iat) {
		return Account{}, badRequest("invalid_grant", "exp must be after iat")
	}
	if life := exp.Sub(iat); life > MaxAssertionLifetime {
		return Account{}, badRequest("invalid_grant", "exp - iat is %ds; at most %ds is allowed", life/time.Second, MaxAssertionLifetime/time.Second)
	}
	now := h.now()
	if !now.Before(exp) {
		return Account{}, badRequest("invalid_grant", "assertion expired %s ago", now.Sub(exp).Round(time.Second))
	}
	if ahead := iat.Sub(now); ahead > skew {
		return Account{}, badRequest("invalid_grant", "iat is %s in the future; allowed clock skew is %s", ahead.Round(time.Second), skew)
	}
	return acct, nil
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

func decodeHeader(assertion string) (jwtHeader, error) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return jwtHeader{}, fmt.Errorf("want 3 parts, got %d", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return jwtHeader{}, err
	}
	var hdr jwtHeader
	err = json.Unmarshal(raw, &hdr)
	return hdr, err
}

// clip quotes a client-supplied value for an error message, bounded in length.
func clip(s string) string {
	const limit = 64
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return fmt.Sprintf("%q", s)
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// statusWriter records the status for the request log. Unwrap lets
// http.ResponseController reach the connection for hijacking.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
