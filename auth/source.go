package auth

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// Defaults for [NewSource]; each has an option to change it.
const (
	DefaultTimeout        = 30 * time.Second
	DefaultAttemptTimeout = 10 * time.Second
	DefaultRetries        = 4

	defaultMinWait = 250 * time.Millisecond
	defaultMaxWait = 4 * time.Second
	// maxRetryAfter caps how long a Retry-After header can make us wait:
	// the shared back-off's own cap, which honours the same header.
	maxRetryAfter = bearer.BackoffCap
	// maxBody bounds how much of a response is read.
	maxBody = 1 << 20

	grantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// ContextSource is an oauth2.TokenSource whose calls can be bounded by a
// context. Every source in this module implements it.
type ContextSource interface {
	oauth2.TokenSource
	TokenContext(ctx context.Context) (*oauth2.Token, error)
}

// Source exchanges assertions for access tokens at the token endpoint, one
// exchange per call; wrap it in a [ReuseSource] or a cache to reuse tokens.
// It is safe for concurrent use.
type Source struct {
	creds          Credentials
	client         *http.Client
	now            func() time.Time
	timeout        time.Duration
	attemptTimeout time.Duration
	retries        int
	minWait        time.Duration
	maxWait        time.Duration
	log            *slog.Logger
}

// Option configures a [Source].
type Option func(*Source)

// WithHTTPClient sets the HTTP client; its Transport is used, its redirects
// are not followed, and its Timeout, if shorter, bounds each attempt.
func WithHTTPClient(c *http.Client) Option { return func(s *Source) { s.client = c } }

// WithClock sets the clock used for assertions and expiry.
func WithClock(now func() time.Time) Option { return func(s *Source) { s.now = now } }

// WithTimeout bounds a whole Token call, retries included (default 30s).
func WithTimeout(d time.Duration) Option { return func(s *Source) { s.timeout = d } }

// WithAttemptTimeout bounds each HTTP attempt (default 10s).
func WithAttemptTimeout(d time.Duration) Option { return func(s *Source) { s.attemptTimeout = d } }

// WithRetries sets how many times a transient failure is retried and the
// bounds of the exponential backoff between attempts.
func WithRetries(n int, minWait, maxWait time.Duration) Option {
	return func(s *Source) { s.retries, s.minWait, s.maxWait = n, minWait, maxWait }
}

// WithLogger logs each step (endpoint, attempt, status, delay, decision) at
// debug level. Secrets, assertions and tokens are never logged.
func WithLogger(l *slog.Logger) Option { return func(s *Source) { s.log = l } }

// NewSource validates c and returns a source of fresh tokens for it.
func NewSource(c Credentials, opts ...Option) (*Source, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	s := &Source{
		creds:          c,
		client:         http.DefaultClient,
		now:            time.Now,
		timeout:        DefaultTimeout,
		attemptTimeout: DefaultAttemptTimeout,
		retries:        DefaultRetries,
		minWait:        defaultMinWait,
		maxWait:        defaultMaxWait,
		log:            slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Token implements oauth2.TokenSource.
func (s *Source) Token() (*oauth2.Token, error) { return s.TokenContext(context.Background()) }

// TokenContext performs one token exchange, retrying transient failures with
// exponential backoff and jitter until the source's timeout or ctx ends. A
// ctx marked by bearer.WithSingleAttempt (a cache that holds a still-valid
// token to serve if this fails) gets one attempt, not retried: the cache's
// back-off spaces the next. The token's expiry is counted from when the
// request was sent, so it errs early.
func (s *Source) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	assertion, err := Assertion(s.creds, s.now())
	if err != nil {
		return nil, err
	}
	form := url.Values{"grant_type": {grantType}, "assertion": {assertion}}.Encode()

	hc := s.attemptClient()
	// A new request for each attempt: a request once sent is the
	// transport's until it is done with its body.
	newRequest := func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.creds.TokenEndpoint, strings.NewReader(form))
		if err != nil {
			return nil, newConfigError(fmt.Errorf("token endpoint %s: %w", s.creds.TokenEndpoint, err))
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		return req, nil
	}
	s.logRoute(ctx, hc, newRequest)

	// The retries are a plain loop: which failures are transient, how long
	// to wait, when waiting would pass the deadline, and reading the body
	// inside the attempt are all decided here, so a retry library would
	// add nothing but hooks to decide them through.
	deadline, hasDeadline := ctx.Deadline()
	var failure error // what the last attempt the deadline did not cut off met
	retries := s.retriesFor(ctx)
	for attempt := 1; ; attempt++ {
		req, err := newRequest()
		if err != nil {
			return nil, err
		}
		sentAt := s.now()
		s.log.Debug("requesting token", "endpoint", s.creds.TokenEndpoint, "key_id", s.creds.KeyID, "attempt", attempt)
		resp, body, err := send(hc, req)
		if err != nil && ctx.Err() == nil {
			failure = err
		}

		attrs := []any{"attempt", attempt}
		if resp != nil {
			attrs = append(attrs, "status", resp.StatusCode)
		}
		if err != nil {
			attrs = append(attrs, "error", redactURLError(err))
		}
		if !retryable(ctx, resp, err) || attempt > retries {
			s.log.Debug("token response", append(attrs, "decision", "done")...)
			return s.outcome(ctx, attempt, sentAt, resp, body, err, failure)
		}
		wait := s.backoff(attempt, resp)
		if hasDeadline && time.Now().Add(wait).After(deadline) {
			s.log.Debug("token response", append(attrs, "decision", "give up: the next attempt would pass the deadline", "delay", wait)...)
			return s.outcome(ctx, attempt, sentAt, resp, body, err, failure)
		}
		s.log.Debug("token response", append(attrs, "decision", "retry", "delay", wait)...)
		if err := sleep(ctx, wait); err != nil {
			return nil, s.transportError(ctx, attempt, err, failure)
		}
	}
}

// logRoute logs, once per exchange, the proxy the token request goes
// through: it is chosen by host, the same for every attempt.
func (s *Source) logRoute(ctx context.Context, hc *http.Client, newRequest func() (*http.Request, error)) {
	if !s.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	if req, err := newRequest(); err == nil {
		s.log.Debug("token request route", "endpoint", s.creds.TokenEndpoint, "proxy", proxyFor(hc, req))
	}
}

// retriesFor is how many times a failed attempt of the exchange asked
// with ctx is retried: none when a cache covers it with a still-valid
// token (bearer.WithSingleAttempt), whose back-off is the retry.
func (s *Source) retriesFor(ctx context.Context) int {
	if bearer.SingleAttempt(ctx) {
		return 0
	}
	return s.retries
}

// attemptClient is the client each attempt is made with: a shallow copy of
// the source's, so the caller's client is not changed, that follows no
// redirect (a redirect would send the assertion elsewhere) and bounds each
// attempt.
func (s *Source) attemptClient() *http.Client {
	hc := *s.client
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if hc.Timeout == 0 || (s.attemptTimeout > 0 && s.attemptTimeout < hc.Timeout) {
		hc.Timeout = s.attemptTimeout
	}
	return &hc
}

// send makes one attempt and reads the response body within it, so a
// connection cut off part way through the body is retried like one cut off
// before the headers. The body is closed; resp is returned with the status
// and headers even when reading the body failed.
func send(c *http.Client, req *http.Request) (*http.Response, []byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return resp, nil, fmt.Errorf("reading the response: %w", err)
	}
	return resp, body, nil
}

// retryable reports whether an attempt that ended in resp or err may succeed
// if made again: never once ctx has ended; after a failed connection or a
// body cut off, unless the server's certificate did not verify; after a 429
// or a 5xx but 501.
func retryable(ctx context.Context, resp *http.Response, err error) bool {
	switch {
	case ctx.Err() != nil:
		return false
	case err != nil:
		return !certificateError(err)
	}
	return transientStatus(resp.StatusCode)
}

// transientStatus reports whether a response with status code may be
// followed by a better one: 429, and any 5xx but 501, which says the server
// will never do this.
func transientStatus(code int) bool {
	return code == http.StatusTooManyRequests || (code >= 500 && code != http.StatusNotImplemented)
}

// certificateError reports whether err is a server certificate that did not
// verify (an untrusted CA, a wrong name, an expired certificate): the same
// certificate will be offered again, so retrying will not help.
func certificateError(err error) bool {
	var cve *tls.CertificateVerificationError
	return errors.As(err, &cve)
}

// sleep waits for d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// outcome turns the last attempt into the token or the error to return;
// failure is what an earlier attempt met, for an attempt the deadline cut
// off.
func (s *Source) outcome(ctx context.Context, attempts int, sentAt time.Time, resp *http.Response, body []byte, err, failure error) (*oauth2.Token, error) {
	if err != nil {
		return nil, s.transportError(ctx, attempts, err, failure)
	}
	if len(body) > maxBody {
		return nil, &Error{Kind: BadResponse, Endpoint: s.creds.TokenEndpoint, KeyID: s.creds.KeyID, Attempts: attempts,
			Retrieve: &oauth2.RetrieveError{Response: detach(resp)}, Err: errors.New("response body is larger than 1 MiB")}
	}
	return s.parse(resp, body, sentAt, attempts)
}

// backoff is how long to wait before attempt n+1: the server's Retry-After
// (capped) when it gives one, else exponential backoff with jitter.
func (s *Source) backoff(n int, resp *http.Response) time.Duration {
	if d, ok := serverWait(resp); ok {
		return d
	}
	d := s.minWait << min(n-1, 30)
	if d <= 0 || d > s.maxWait {
		d = s.maxWait
	}
	// Equal jitter: half fixed, half random, so a crowd spreads out but
	// nobody retries at once.
	return d/2 + rand.N(d/2+1)
}

// serverWait is the wait a 429 or 503 answer asks for with Retry-After,
// capped at maxRetryAfter; false when resp asks for none.
func serverWait(resp *http.Response) (time.Duration, bool) {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return 0, false
	}
	d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now())
	return min(d, maxRetryAfter), ok
}

// retryAfter parses a Retry-After value, seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// transportError is the error for an attempt that got no whole response.
// When the deadline ended it, the error says so, and what the last attempt
// before met (failure), if one met anything: a refusing proxy or a host that
// cannot be reached is the news, not the deadline.
func (s *Source) transportError(ctx context.Context, attempts int, err, failure error) error {
	kind := Transient
	if ctx.Err() == nil && certificateError(err) {
		kind = BadResponse // retrying will not help
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("no token within the deadline: %w", ctx.Err())
		if failure != nil {
			err = fmt.Errorf("%w; the attempt before: %v", err, redactURLError(failure))
		}
	}
	return &Error{Kind: kind, Endpoint: s.creds.TokenEndpoint, KeyID: s.creds.KeyID, Attempts: attempts, Err: redactURLError(err)}
}

// redactURLError strips the URL from *url.Error, which net/http formats as
// `Post "URL": ...`; the endpoint is named separately.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// detach returns the part of resp an error may keep: status, protocol and
// headers. The response itself must not be kept, as errors outlive the call:
// its Request holds the form, and Request.GetBody replays it, signed
// assertion and all, which stays valid for up to an hour.
func detach(resp *http.Response) *http.Response {
	return &http.Response{
		Status:     resp.Status,
		StatusCode: resp.StatusCode,
		Proto:      resp.Proto,
		ProtoMajor: resp.ProtoMajor,
		ProtoMinor: resp.ProtoMinor,
		Header:     resp.Header.Clone(),
		Body:       http.NoBody,
	}
}

// tokenResponse is a successful token endpoint response; expires_in is kept
// raw because servers send numbers and numeric strings.
type tokenResponse struct {
	AccessToken string          `json:"access_token"`
	TokenType   string          `json:"token_type"`
	ExpiresIn   json.RawMessage `json:"expires_in"`
}

// errorResponse is an RFC 6749 error response.
type errorResponse struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	URI         string `json:"error_uri"`
}

func (s *Source) parse(resp *http.Response, body []byte, sentAt time.Time, attempts int) (*oauth2.Token, error) {
	fail := func(kind Kind, err error) error {
		re := &oauth2.RetrieveError{Response: detach(resp), Body: []byte(sanitize(body, s.creds.Secret))}
		var er errorResponse
		if json.Unmarshal(body, &er) == nil && er.Error != "" {
			re.ErrorCode = truncate(sanitize([]byte(er.Error), s.creds.Secret), 64)
			re.ErrorDescription = truncate(sanitize([]byte(er.Description), s.creds.Secret), 160)
			re.ErrorURI = truncate(sanitize([]byte(er.URI), s.creds.Secret), 160)
		}
		return &Error{Kind: kind, Endpoint: s.creds.TokenEndpoint, KeyID: s.creds.KeyID, Attempts: attempts, Retrieve: re, Err: err}
	}
	switch code := resp.StatusCode; {
	case transientStatus(code):
		return nil, fail(Transient, nil)
	case code == http.StatusBadRequest, code == http.StatusUnauthorized, code == http.StatusForbidden:
		return nil, fail(Rejected, nil)
	case code != http.StatusOK:
		return nil, fail(BadResponse, nil)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, fail(BadResponse, errors.New("response is not a JSON token response"))
	}
	if tr.AccessToken == "" {
		return nil, fail(BadResponse, errors.New("response has no access_token"))
	}
	if err := bearer.Check(tr.AccessToken); err != nil {
		// Not even an excerpt of the body: it holds the token.
		err := fail(BadResponse, fmt.Errorf("the access_token in the response %w", err)).(*Error)
		err.Retrieve.Body = nil
		return nil, err
	}
	if !bearer.IsBearer(tr.TokenType) {
		return nil, fail(BadResponse, fmt.Errorf("token_type %q is not bearer", truncate(sanitize([]byte(tr.TokenType), s.creds.Secret), 32)))
	}
	lifetime, err := parseExpiresIn(tr.ExpiresIn)
	if err != nil {
		return nil, fail(BadResponse, err)
	}
	if lifetime > bearer.MaxLifetime {
		s.log.Debug("capping token lifetime", "expires_in", truncate(string(tr.ExpiresIn), 32), "cap", bearer.MaxLifetime)
		lifetime = bearer.MaxLifetime
	}
	tok := &oauth2.Token{
		AccessToken: tr.AccessToken,
		TokenType:   "Bearer",
		Expiry:      sentAt.Add(lifetime),
		ExpiresIn:   int64(lifetime / time.Second),
	}
	s.log.Debug("token received", "endpoint", s.creds.TokenEndpoint, "key_id", s.creds.KeyID, "expires_at", tok.Expiry.UTC().Format(time.RFC3339))
	return tok, nil
}

// parseExpiresIn returns the lifetime expires_in grants: a JSON number, or a
// string of decimal digits (some servers quote it), that is positive. Go's
// float parser alone would also take "NaN", "+Inf", "0x1p4" and "1_000" from
// a string. A value beyond bearer.MaxLifetime is returned as just over it,
// for the caller to cap.
func parseExpiresIn(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, errors.New("response has no expires_in")
	}
	tooLong := bearer.MaxLifetime + time.Second
	if raw[0] == '"' {
		var str string
		if json.Unmarshal(raw, &str) != nil {
			return 0, errors.New("expires_in is not a number")
		}
		if str == "" || strings.TrimLeft(str, "0123456789") != "" {
			return 0, errors.New("expires_in is not a number: a string must be decimal digits only")
		}
		n, err := strconv.ParseUint(str, 10, 64)
		switch {
		case err != nil || n > uint64(bearer.MaxLifetime/time.Second):
			// Only a range error is possible: too many digits.
			return tooLong, nil
		case n == 0:
			return 0, fmt.Errorf("expires_in is %s, not positive", truncate(str, 20))
		}
		return time.Duration(n) * time.Second, nil
	}
	// Decoding into json.Number checks the JSON number grammar: no NaN, no
	// infinities, no hex.
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, errors.New("expires_in is not a number")
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	switch {
	case err != nil && !math.IsInf(f, 1):
		// Overflow to -Inf, or a syntax error the grammar check let by.
		return 0, fmt.Errorf("expires_in is %s, not positive", truncate(n.String(), 20))
	case f <= 0:
		return 0, fmt.Errorf("expires_in is %s, not positive", truncate(n.String(), 20))
	case f > bearer.MaxLifetime.Seconds():
		// Compared as seconds: an absurd expires_in overflows a Duration.
		return tooLong, nil
	}
	d := time.Duration(f * float64(time.Second))
	if d <= 0 {
		return 0, fmt.Errorf("expires_in is %s, less than a nanosecond", truncate(n.String(), 20))
	}
	return d, nil
}
