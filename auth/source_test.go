package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/bearer"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

// The DT identity service cannot run here: these tests use the emulator in
// auth/authtest, which validates assertions as DT documents.

const testSecret = "test-secret-Zq9xv"

var account = authtest.Account{KeyID: "key-1", Email: "sa-1@project.serviceaccount.d21s.com", Secret: testSecret}

func newSource(t *testing.T, srv *authtest.Server, opts ...auth.Option) (*auth.Source, *testutil.Buffer) {
	t.Helper()
	logs := &testutil.Buffer{}
	base := []auth.Option{
		auth.WithHTTPClient(srv.Client()),
		auth.WithRetries(3, time.Millisecond, 5*time.Millisecond),
		auth.WithTimeout(10 * time.Second),
		auth.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}
	src, err := auth.NewSource(auth.Credentials{KeyID: account.KeyID, Email: account.Email, Secret: account.Secret, TokenEndpoint: srv.TokenURL()}, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return src, logs
}

func TestSourceSuccess(t *testing.T) {
	srv := authtest.NewServer(account)
	defer srv.Close()
	src, logs := newSource(t, srv)
	before := time.Now()
	tok, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	if !srv.Valid(tok.AccessToken) {
		t.Error("the emulator does not know the token")
	}
	if tok.TokenType != "Bearer" {
		t.Errorf("token type %q, want Bearer", tok.TokenType)
	}
	// Expiry counts from when the request was sent: not later than now+1h.
	if tok.Expiry.Before(before.Add(time.Hour-time.Second)) || tok.Expiry.After(time.Now().Add(time.Hour)) {
		t.Errorf("expiry %v is not about an hour from the request", tok.Expiry)
	}
	if srv.Requests() != 1 {
		t.Errorf("%d requests, want 1", srv.Requests())
	}
	assertNoSecrets(t, logs.String(), tok.AccessToken)
}

func TestSourceOverTLS(t *testing.T) {
	srv := authtest.NewTLSServer(account)
	defer srv.Close()
	src, _ := newSource(t, srv)
	if _, err := src.Token(); err != nil {
		t.Fatal(err)
	}
	// Without the test CA the certificate is untrusted: no retries, clear error.
	src, _ = newSource(t, srv, auth.WithHTTPClient(&http.Client{}))
	_, err := src.Token()
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.Kind != auth.BadResponse || srv.Requests() != 1 {
		t.Errorf("untrusted certificate: got %v (requests %d), want a non-transient error after 1 attempt", err, srv.Requests())
	}
}

func TestSourceErrors(t *testing.T) {
	const tokenInBody = "leaky-access-token-1234567890"
	tests := []struct {
		name     string
		faults   []authtest.Fault
		always   *authtest.Fault
		kind     auth.Kind
		requests int
		code     string // OAuth error code in the RetrieveError
		contains string // in the error text
	}{
		{name: "invalid_grant", faults: []authtest.Fault{authtest.ErrorFault(400, "invalid_grant", "bad signature")}, kind: auth.Rejected, requests: 1, code: "invalid_grant", contains: "HTTP 400 invalid_grant (bad signature)"},
		{name: "401", faults: []authtest.Fault{authtest.ErrorFault(401, "invalid_client", "unknown key")}, kind: auth.Rejected, requests: 1, code: "invalid_client", contains: "HTTP 401"},
		{name: "403", faults: []authtest.Fault{{Status: 403, Body: "forbidden"}}, kind: auth.Rejected, requests: 1, contains: `HTTP 403: response "forbidden"`},
		{name: "404 is not retried", faults: []authtest.Fault{{Status: 404, Body: "nope"}}, kind: auth.BadResponse, requests: 1, contains: "HTTP 404"},
		{name: "500 then success", faults: []authtest.Fault{{Status: 500, Body: "oops"}}, requests: 2},
		{name: "502 503 504 then success", faults: []authtest.Fault{{Status: 502, Body: "x"}, {Status: 503, Body: "x"}, {Status: 504, Body: "x"}}, requests: 4},
		{name: "500 always", always: &authtest.Fault{Status: 500, Body: "down"}, kind: auth.Transient, requests: 4, contains: "after 4 attempts"},
		{name: "429 without Retry-After then success", faults: []authtest.Fault{{Status: 429, Body: "slow down"}}, requests: 2},
		{name: "dropped connection then success", faults: []authtest.Fault{{Drop: true}}, requests: 2},
		{name: "dropped always", always: &authtest.Fault{Drop: true}, kind: auth.Transient, requests: 4},
		{name: "truncated body then success", faults: []authtest.Fault{{Status: 200, Body: `{"access_token":"` + tokenInBody + `","token_type":"bearer","expires_in":3600}`, Truncate: true}}, requests: 2},
		{name: "truncated always", always: &authtest.Fault{Status: 200, Body: `{"access_token":"` + tokenInBody + `","token_type":"bearer","expires_in":3600}`, Truncate: true}, kind: auth.Transient, requests: 4, contains: "reading the response"},
		{name: "HTML with 200", faults: []authtest.Fault{{Status: 200, ContentType: "text/html", Body: "<html><body>Login</body></html>"}}, kind: auth.BadResponse, requests: 1, contains: "not a JSON token response"},
		{name: "malformed JSON", faults: []authtest.Fault{{Status: 200, Body: `{"access_token":`}}, kind: auth.BadResponse, requests: 1},
		// The excerpt of a body that is not a JSON object hides tokens too.
		{name: "malformed JSON with a token", faults: []authtest.Fault{{Status: 200, Body: `{"access_token":"` + tokenInBody + `","expires_in":3600,}`}}, kind: auth.BadResponse, requests: 1, contains: `access_token\":\"[redacted]\",\"expires_in\":3600,}`},
		{name: "form-encoded token", faults: []authtest.Fault{{Status: 200, ContentType: "application/x-www-form-urlencoded", Body: "access_token=" + tokenInBody + "&token_type=bearer&expires_in=3600"}}, kind: auth.BadResponse, requests: 1, contains: "access_token=[redacted]&token_type=bearer"},
		{name: "nested token", always: &authtest.Fault{Status: 502, Body: `{"upstream":{"access_token":"` + tokenInBody + `"}}`}, kind: auth.Transient, requests: 4, contains: `access_token\":\"[redacted]\"`},
		{name: "empty access_token", faults: []authtest.Fault{{Status: 200, Body: `{"access_token":"","token_type":"bearer","expires_in":3600}`}}, kind: auth.BadResponse, requests: 1, contains: "no access_token"},
		{name: "missing expires_in", faults: []authtest.Fault{{Status: 200, Body: `{"access_token":"` + tokenInBody + `","token_type":"bearer"}`}}, kind: auth.BadResponse, requests: 1, contains: "no expires_in"},
		{name: "zero expires_in", faults: []authtest.Fault{{Status: 200, Body: `{"access_token":"` + tokenInBody + `","expires_in":0}`}}, kind: auth.BadResponse, requests: 1, contains: "not positive"},
		{name: "negative expires_in", faults: []authtest.Fault{{Status: 200, Body: `{"access_token":"` + tokenInBody + `","expires_in":-5}`}}, kind: auth.BadResponse, requests: 1, contains: "not positive"},
		{name: "string expires_in", faults: []authtest.Fault{{Status: 200, Body: `{"access_token":"` + tokenInBody + `","expires_in":"abc"}`}}, kind: auth.BadResponse, requests: 1, contains: "not a number"},
		{name: "mac token type", faults: []authtest.Fault{{Status: 200, Body: `{"access_token":"` + tokenInBody + `","token_type":"mac","expires_in":3600}`}}, kind: auth.BadResponse, requests: 1, contains: `"mac" is not bearer`},
		{name: "oversized body", faults: []authtest.Fault{{Status: 200, Body: `{"access_token":"` + strings.Repeat("a", 1<<20) + `"}`}}, kind: auth.BadResponse, requests: 1, contains: "larger than 1 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := authtest.NewServer(account)
			defer srv.Close()
			srv.Inject(tt.faults...)
			if tt.always != nil {
				srv.InjectAlways(*tt.always)
			}
			src, logs := newSource(t, srv)
			tok, err := src.Token()
			if got := srv.Requests(); got != tt.requests {
				t.Errorf("%d token requests, want %d", got, tt.requests)
			}
			if tt.kind == 0 {
				if err != nil || !srv.Valid(tok.AccessToken) {
					t.Fatalf("got %v, want a valid token after retries", err)
				}
				return
			}
			var ae *auth.Error
			if !errors.As(err, &ae) {
				t.Fatalf("got %v (%T), want *auth.Error", err, err)
			}
			if ae.Kind != tt.kind {
				t.Errorf("kind %v, want %v (%v)", ae.Kind, tt.kind, err)
			}
			if auth.IsTransient(err) != (tt.kind == auth.Transient) {
				t.Errorf("IsTransient = %v for kind %v", auth.IsTransient(err), tt.kind)
			}
			if tt.code != "" {
				var re *oauth2.RetrieveError
				if !errors.As(err, &re) || re.ErrorCode != tt.code {
					t.Errorf("RetrieveError code: got %+v, want %q", re, tt.code)
				}
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.contains) {
				t.Errorf("error %q does not contain %q", msg, tt.contains)
			}
			for _, want := range []string{srv.TokenURL(), account.KeyID} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not name %q", msg, want)
				}
			}
			if strings.Contains(msg, "\n") || len(msg) > 600 {
				t.Errorf("error is not one short line: %q", msg)
			}
			assertNoSecrets(t, msg+logs.String(), tokenInBody)
		})
	}
}

// assertNoSecrets fails if s shows the secret, an assertion (any JWT) or a token.
func assertNoSecrets(t *testing.T, s string, tokens ...string) {
	t.Helper()
	if strings.Contains(s, testSecret) {
		t.Errorf("output shows the secret: %q", s)
	}
	if regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]*\.`).MatchString(s) {
		t.Errorf("output shows something like a JWT: %q", s)
	}
	for _, tok := range tokens {
		if tok != "" && strings.Contains(s, tok) {
			t.Errorf("output shows a token: %q", s)
		}
	}
}

func TestSourceRetryAfter(t *testing.T) {
	// An HTTP date has whole seconds: 3s from now is 2 to 3s from when the
	// request is answered, give or take a slow machine.
	date := time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name, retryAfter string
		min, max         time.Duration
	}{
		{"seconds", "1", time.Second, time.Second},
		{"capped", "3600", 30 * time.Second, 30 * time.Second},
		{"HTTP date", date, time.Second, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := authtest.NewServer(account)
			defer srv.Close()
			srv.Inject(authtest.Fault{Status: 429, Body: "{}", RetryAfter: tt.retryAfter})
			// A deadline too short for the delay: the source must give up at
			// once rather than sleep past it, and log the delay it was told.
			src, logs := newSource(t, srv, auth.WithTimeout(900*time.Millisecond))
			_, err := src.Token()
			if !auth.IsTransient(err) || srv.Requests() != 1 {
				t.Fatalf("got %v after %d requests, want a transient error after 1", err, srv.Requests())
			}
			m := regexp.MustCompile(`delay=(\S+)`).FindStringSubmatch(logs.String())
			if m == nil || !strings.Contains(logs.String(), "would pass the deadline") {
				t.Fatalf("logs do not show the delay and giving up:\n%s", logs)
			}
			if d, err := time.ParseDuration(m[1]); err != nil || d < tt.min || d > tt.max {
				t.Errorf("delay %s, want between %v and %v", m[1], tt.min, tt.max)
			}
		})
	}
	t.Run("honoured", func(t *testing.T) {
		srv := authtest.NewServer(account)
		defer srv.Close()
		srv.Inject(authtest.Fault{Status: 503, Body: "{}", RetryAfter: "1"})
		src, _ := newSource(t, srv)
		start := time.Now()
		if _, err := src.Token(); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited < time.Second {
			t.Errorf("retried after %v, before the 1s Retry-After", waited)
		}
	})
}

func TestSourceDeadline(t *testing.T) {
	srv := authtest.NewServer(account)
	defer srv.Close()
	srv.InjectAlways(authtest.Fault{Delay: 10 * time.Second})
	src, _ := newSource(t, srv, auth.WithTimeout(300*time.Millisecond))
	start := time.Now()
	_, err := src.Token()
	if !auth.IsTransient(err) || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("got %v, want a transient deadline error", err)
	}
	// Generous bound: the point is that 10s of server delay is not waited.
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v despite a 300ms deadline", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.TokenContext(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled context: %v, want context.Canceled", err)
	}
}

func TestSourceRejectsBadCredentials(t *testing.T) {
	srv := authtest.NewServer(account)
	defer srv.Close()
	src, err := auth.NewSource(auth.Credentials{KeyID: account.KeyID, Email: account.Email, Secret: "wrong-" + testSecret, TokenEndpoint: srv.TokenURL()},
		auth.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Token()
	if !auth.IsRejected(err) || srv.Requests() != 1 {
		t.Fatalf("got %v after %d requests, want rejected after 1", err, srv.Requests())
	}
	assertNoSecrets(t, err.Error())
}

func TestNewSourceValidates(t *testing.T) {
	_, err := auth.NewSource(auth.Credentials{KeyID: "k", Email: "e", Secret: "s", TokenEndpoint: "http://identity.example/t"})
	var ce *auth.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "plain http") {
		t.Errorf("got %v, want a config error about plain http", err)
	}
}

// One hung attempt costs the attempt timeout, not the whole deadline.
func TestSourceAttemptTimeout(t *testing.T) {
	srv := authtest.NewServer(account)
	defer srv.Close()
	srv.Inject(authtest.Fault{Delay: 5 * time.Second})
	src, _ := newSource(t, srv, auth.WithAttemptTimeout(300*time.Millisecond))
	start := time.Now()
	tok, err := src.Token()
	if err != nil || !srv.Valid(tok.AccessToken) {
		t.Fatalf("got %v, want a token from the second attempt", err)
	}
	if srv.Requests() != 2 {
		t.Errorf("%d requests, want 2", srv.Requests())
	}
	// Generous: the point is that the 5s hang was not waited out.
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %v with a 300ms attempt timeout", took)
	}
}

// The RetrieveError a caller gets through errors.As outlives the call, so
// nothing reachable from it may replay the form (the signed assertion is
// valid for up to an hour) or show the secret.
func TestSourceErrorHoldsNoAssertion(t *testing.T) {
	tests := []struct {
		name  string
		fault authtest.Fault
	}{
		{"5xx", authtest.Fault{Status: 503, Body: "down"}},
		{"400 invalid_grant", authtest.ErrorFault(400, "invalid_grant", "bad signature")},
		{"malformed 200", authtest.Fault{Status: 200, Body: `{"access_token":`}},
		{"oversized 200", authtest.Fault{Status: 200, Body: `{"access_token":"` + strings.Repeat("a", 1<<20) + `"}`}},
	}
	jwt := regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]*\.`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := authtest.NewServer(account)
			defer srv.Close()
			srv.InjectAlways(tt.fault)
			src, _ := newSource(t, srv)
			_, err := src.Token()
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.Response == nil {
				t.Fatalf("got %v, want an error wrapping a *oauth2.RetrieveError with a Response", err)
			}
			resp := re.Response
			if req := resp.Request; req != nil {
				if req.GetBody != nil {
					// Not printed: it would put the assertion in the test log.
					replays := "it fails"
					if body, err := req.GetBody(); err == nil {
						b, _ := io.ReadAll(body)
						replays = fmt.Sprintf("%d bytes, an assertion: %v", len(b), jwt.Match(b))
					}
					t.Errorf("Response.Request.GetBody is set and replays the form (%s)", replays)
				}
				if req.Body != nil {
					b, _ := io.ReadAll(req.Body)
					if jwt.Match(b) || bytes.Contains(b, []byte(testSecret)) {
						t.Error("Response.Request.Body holds the assertion")
					}
				}
				if req.Header.Get("Authorization") != "" {
					t.Error("Response.Request has an Authorization header")
				}
				var u string
				if req.URL != nil {
					u = req.URL.String()
				}
				if s := fmt.Sprint(u, req.Form, req.PostForm, req.Header); jwt.MatchString(s) || strings.Contains(s, testSecret) {
					t.Error("Response.Request's URL, form or headers hold the assertion or the secret")
				}
			}
			if resp.Body != nil {
				if b, err := io.ReadAll(resp.Body); err == nil && (jwt.Match(b) || bytes.Contains(b, []byte(testSecret))) {
					t.Error("Response.Body holds the assertion or the secret")
				}
			}
			for _, format := range []string{"%v", "%+v", "%#v"} {
				s := fmt.Sprintf(format, err) + fmt.Sprintf(format, re) + fmt.Sprintf(format, *re) + fmt.Sprintf(format, *resp)
				if jwt.MatchString(s) || strings.Contains(s, testSecret) {
					t.Errorf("the error formatted with %s shows the assertion or the secret", format)
				}
			}
		})
	}
}

// Expiry counts from when the request was sent, not from when the answer
// came, so a slow answer makes the token expire early rather than late. The
// emulator holds its answer (a normal one, expires_in 3600) for 1.5s.
func TestSourceExpiryFromSend(t *testing.T) {
	srv := authtest.NewServer(account)
	defer srv.Close()
	srv.Inject(authtest.Fault{Delay: 1500 * time.Millisecond})
	src, _ := newSource(t, srv)
	start := time.Now()
	tok, err := src.Token()
	returned := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if srv.Requests() != 1 || tok.ExpiresIn != 3600 {
		t.Fatalf("%d requests, expires_in %d; want 1 request and 3600", srv.Requests(), tok.ExpiresIn)
	}
	// The request is sent right after start: the slack is for signing the
	// assertion on a busy machine, not for the server's delay.
	const slack = 500 * time.Millisecond
	if tok.Expiry.Before(start.Add(time.Hour)) || tok.Expiry.After(start.Add(time.Hour+slack)) {
		t.Errorf("expiry is %v after the call started, want 1h (+%v)", tok.Expiry.Sub(start), slack)
	}
	// Counted from the answer it would be at least returned+1h; the 1.5s
	// delay puts the send time more than 1s before that.
	if !tok.Expiry.Before(returned.Add(time.Hour - time.Second)) {
		t.Errorf("expiry is %v after the call returned, want under 1h-1s: counted from the answer, not the request", tok.Expiry.Sub(returned))
	}
}

// token_type is compared without case and may be left out; any type but
// bearer is refused. The emulator stands in for DT's identity service and
// answers with each body verbatim.
func TestSourceTokenType(t *testing.T) {
	const accessToken = "opaque-access-token-42"
	tests := []struct {
		name      string
		tokenType string // JSON member, "" for none
		ok        bool
	}{
		{"absent", "", true},
		{"bearer", `"token_type":"bearer",`, true},
		{"Bearer", `"token_type":"Bearer",`, true},
		{"BEARER", `"token_type":"BEARER",`, true},
		{"mac", `"token_type":"mac",`, false},
		{"DPoP", `"token_type":"DPoP",`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := authtest.NewServer(account)
			defer srv.Close()
			srv.Inject(authtest.Fault{Status: 200, Body: `{"access_token":"` + accessToken + `",` + tt.tokenType + `"expires_in":3600}`})
			src, _ := newSource(t, srv)
			tok, err := src.Token()
			if !tt.ok {
				var ae *auth.Error
				if !errors.As(err, &ae) || ae.Kind != auth.BadResponse || !strings.Contains(err.Error(), "is not bearer") {
					t.Errorf("got %v, want a bad response error saying the type is not bearer", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != accessToken || tok.TokenType != "Bearer" || tok.ExpiresIn != 3600 {
				t.Errorf("got token %q type %q expires_in %d, want %q Bearer 3600", tok.AccessToken, tok.TokenType, tok.ExpiresIn, accessToken)
			}
		})
	}
}

// An access_token is printed into headers (-o header, git, docker), so only
// RFC 6750 b64token characters are accepted, up to a length the cache can
// hold: anything else is a bad response that names the endpoint and never
// shows the token.
func TestSourceTokenContents(t *testing.T) {
	const limit = 32 << 10 // bearer.MaxSize
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"plain", "opaque-access-token-42", true},
		{"every b64token character", "AZaz09-._~+/==", true},
		{"only padding after the characters", "abc=", true},
		{"at the length limit", strings.Repeat("a", limit), true},
		{"header injection", "abc\r\nX-Injected: 1", false},
		{"newline", "abc\ndef", false},
		{"space", "abc def", false},
		{"tab", "abc\tdef", false},
		{"quote", `abc"def`, false},
		{"colon", "abc:def", false},
		{"padding in the middle", "ab=cd", false},
		{"padding only", "==", false},
		{"non-ASCII", "tökén", false},
		{"NUL", "abc\x00def", false},
		{"over the length limit", strings.Repeat("a", limit+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := authtest.NewServer(account)
			defer srv.Close()
			body, err := json.Marshal(map[string]any{"access_token": tt.token, "token_type": "bearer", "expires_in": 3600})
			if err != nil {
				t.Fatal(err)
			}
			srv.Inject(authtest.Fault{Status: 200, Body: string(body)})
			src, logs := newSource(t, srv)
			tok, err := src.Token()
			if tt.ok {
				if err != nil || tok.AccessToken != tt.token {
					t.Fatalf("got %v; want the token", err)
				}
				return
			}
			var ae *auth.Error
			if !errors.As(err, &ae) || ae.Kind != auth.BadResponse {
				t.Fatalf("got %v (%T); want a bad response error", err, err)
			}
			if srv.Requests() != 1 {
				t.Errorf("%d requests; a bad token is not retried", srv.Requests())
			}
			msg := err.Error()
			if !strings.Contains(msg, srv.TokenURL()) || !strings.Contains(msg, "access_token") || strings.Contains(msg, "\n") {
				t.Errorf("error %q does not name the endpoint and the access_token on one line", msg)
			}
			// The token's distinctive parts never show.
			for _, part := range []string{"X-Injected", "tökén", "ab=cd", strings.Repeat("a", 40)} {
				if strings.Contains(tt.token, part) && strings.Contains(msg+logs.String(), part) {
					t.Errorf("error or log shows the token (%q): %q", part, msg)
				}
			}
		})
	}
}

// expires_in is a JSON number or a string of decimal digits, finite and
// positive; a lifetime over a day is cut to a day.
func TestSourceExpiresInForms(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		raw  string // the JSON value
		want time.Duration
	}{
		{`3600`, time.Hour},
		{`"3600"`, time.Hour},
		{`"0003600"`, time.Hour},
		{`3600.5`, time.Hour + 500*time.Millisecond},
		{`1e3`, 1000 * time.Second},
		{`86400`, day},
		{`86401`, day},
		{`1e300`, day},
		{`"99999999999999999999999999"`, day},
		{`"NaN"`, 0},
		{`"nan"`, 0},
		{`"+Inf"`, 0},
		{`"-Inf"`, 0},
		{`"Infinity"`, 0},
		{`"0x1p4"`, 0},
		{`"0x10"`, 0},
		{`"1_000"`, 0},
		{`"1e3"`, 0},
		{`"36.5"`, 0},
		{`"+3600"`, 0},
		{`"-3600"`, 0},
		{`" 3600"`, 0},
		{`""`, 0},
		{`"0"`, 0},
		{`0`, 0},
		{`-1`, 0},
		{`1e-300`, 0},
		{`true`, 0},
		{`[3600]`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			srv := authtest.NewServer(account)
			defer srv.Close()
			srv.Inject(authtest.Fault{Status: 200, Body: `{"access_token":"tok-123","token_type":"bearer","expires_in":` + tt.raw + `}`})
			src, _ := newSource(t, srv)
			before := time.Now()
			tok, err := src.Token()
			if tt.want == 0 {
				var ae *auth.Error
				if !errors.As(err, &ae) || ae.Kind != auth.BadResponse || !strings.Contains(err.Error(), "expires_in") {
					t.Fatalf("got token %v, error %v; want a bad response error about expires_in", tok, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Expiry.Sub(before); got < tt.want || got > tt.want+5*time.Second {
				t.Errorf("expiry is %v away, want %v", got, tt.want)
			}
		})
	}
}

// The --verbose log shows each attempt as one "requesting token" line and
// one "token response" line with its decision: retry (with the delay), give
// up, or done. Not a decision logged twice, nor "done" then "retry" for an
// attempt whose body could not be read.
func TestSourceLogsOneDecisionPerAttempt(t *testing.T) {
	tests := []struct {
		name      string
		faults    []authtest.Fault
		always    *authtest.Fault
		timeout   time.Duration
		decisions []string // per attempt, the start of its decision
	}{
		{name: "success", decisions: []string{"done"}},
		{name: "rejected", faults: []authtest.Fault{authtest.ErrorFault(400, "invalid_grant", "bad signature")}, decisions: []string{"done"}},
		{name: "500 then success", faults: []authtest.Fault{{Status: 500, Body: "oops"}}, decisions: []string{"retry", "done"}},
		{name: "truncated body then success", faults: []authtest.Fault{{Status: 200, Body: `{"access_token":"tok-abc","expires_in":3600}`, Truncate: true}}, decisions: []string{"retry", "done"}},
		{name: "dropped always", always: &authtest.Fault{Drop: true}, decisions: []string{"retry", "retry", "retry", "done"}},
		{name: "truncated always", always: &authtest.Fault{Status: 200, Body: `{"access_token":"tok-abc","expires_in":3600}`, Truncate: true}, decisions: []string{"retry", "retry", "retry", "done"}},
		{name: "Retry-After past the deadline", faults: []authtest.Fault{{Status: 429, Body: "{}", RetryAfter: "5"}}, timeout: 900 * time.Millisecond, decisions: []string{"give up"}},
	}
	line := regexp.MustCompile(`msg="(requesting token|token response)".*\battempt=(\d+)`)
	decision := regexp.MustCompile(`\bdecision=("(?:[^"\\]|\\.)*"|\S+)`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := authtest.NewServer(account)
			defer srv.Close()
			srv.Inject(tt.faults...)
			if tt.always != nil {
				srv.InjectAlways(*tt.always)
			}
			var opts []auth.Option
			if tt.timeout > 0 {
				opts = append(opts, auth.WithTimeout(tt.timeout))
			}
			src, logs := newSource(t, srv, opts...)
			_, _ = src.Token()
			var got []string
			for _, l := range strings.Split(logs.String(), "\n") {
				m := line.FindStringSubmatch(l)
				if m == nil {
					continue
				}
				if m[1] == "requesting token" {
					got = append(got, "request "+m[2])
					continue
				}
				d := decision.FindStringSubmatch(l)
				if d == nil {
					t.Fatalf("a token response line without a decision: %s", l)
				}
				word := strings.Trim(d[1], `"`)
				for _, w := range []string{"retry", "done", "give up"} {
					if strings.HasPrefix(word, w) {
						word = w
					}
				}
				got = append(got, "response "+m[2]+" "+word)
			}
			var want []string
			for i, d := range tt.decisions {
				want = append(want, fmt.Sprintf("request %d", i+1), fmt.Sprintf("response %d %s", i+1, d))
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("logged attempts:\n%s\nwant:\n%s\nlog:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), logs)
			}
		})
	}
}

// cancelOnRetry is a slog handler that cancels a context when the source
// logs that it will wait and retry: the wait is then cut short for certain.
type cancelOnRetry struct {
	slog.Handler
	cancel context.CancelFunc
}

func (h cancelOnRetry) Handle(ctx context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "decision" && a.Value.String() == "retry" {
			h.cancel()
		}
		return true
	})
	return h.Handler.Handle(ctx, r)
}

// A caller who gives up while the source waits between attempts gets
// context.Canceled, a transient error, with no further attempt.
func TestSourceCancelledWhileWaiting(t *testing.T) {
	srv := authtest.NewServer(account)
	defer srv.Close()
	srv.InjectAlways(authtest.Fault{Status: 503, Body: "{}", RetryAfter: "5"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &testutil.Buffer{}
	log := slog.New(cancelOnRetry{slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}), cancel})
	src, _ := newSource(t, srv, auth.WithLogger(log))
	_, err := src.TokenContext(ctx)
	if !errors.Is(err, context.Canceled) || !auth.IsTransient(err) || !strings.Contains(err.Error(), "no token within the deadline") {
		t.Errorf("got %v, want a transient error wrapping context.Canceled", err)
	}
	// Counted in the log: a second attempt made with the ended context
	// would fail before it reached the server.
	if n := strings.Count(logs.String(), `msg="requesting token"`); n != 1 || srv.Requests() != 1 {
		t.Errorf("%d attempts, %d requests; want 1: the wait was not cut short\n%s", n, srv.Requests(), logs)
	}
}

// TestSourceDeadlineSaysWhatTheAttemptBeforeMet: when the deadline cuts off
// an attempt, the error says what the attempt before it met (here a
// connection the server closed; in the field, a proxy's refusal), not only
// that the deadline passed.
func TestSourceDeadlineSaysWhatTheAttemptBeforeMet(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		// The body read, the server notices the client hang up.
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer srv.Close()
	src, err := auth.NewSource(auth.Credentials{KeyID: account.KeyID, Email: account.Email, Secret: account.Secret, TokenEndpoint: srv.URL + "/oauth2/token"},
		auth.WithRetries(3, time.Millisecond, 5*time.Millisecond), auth.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.TokenContext(context.Background())
	if msg := fmt.Sprint(err); !auth.IsTransient(err) || !strings.Contains(msg, "no token within the deadline") ||
		!strings.Contains(msg, "the attempt before: EOF") {
		t.Errorf("got %v; want the deadline and what the attempt before met (EOF)", err)
	}
	if n.Load() < 2 {
		t.Errorf("%d requests; want the deadline to cut off a later attempt", n.Load())
	}
}

// TestSourceSingleAttempt: a refresh a cache covers with a still-valid
// token (bearer.WithSingleAttempt) makes one attempt, not five, and its
// error says how long a 429 or 503 asked not to be asked again.
func TestSourceSingleAttempt(t *testing.T) {
	for _, tt := range []struct {
		name       string
		fault      authtest.Fault
		retryAfter time.Duration
	}{
		{"500", authtest.Fault{Status: 500, Body: `{"error":"server_error"}`}, 0},
		{"429 with Retry-After", authtest.Fault{Status: 429, Body: "{}", RetryAfter: "7"}, 7 * time.Second},
		{"503 with Retry-After past the cap", authtest.Fault{Status: 503, Body: "{}", RetryAfter: "3600"}, 30 * time.Second},
		{"500 with Retry-After, which only 429 and 503 give", authtest.Fault{Status: 500, Body: "{}", RetryAfter: "7"}, 0},
		{"connection dropped", authtest.Fault{Drop: true}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := authtest.NewServer(account)
			defer srv.Close()
			srv.InjectAlways(tt.fault)
			src, _ := newSource(t, srv)
			_, err := src.TokenContext(bearer.WithSingleAttempt(t.Context()))
			if !auth.IsTransient(err) || srv.Requests() != 1 {
				t.Fatalf("got %v after %d requests, want a transient error after 1", err, srv.Requests())
			}
			if got := bearer.RetryAfter(err); got != tt.retryAfter {
				t.Errorf("bearer.RetryAfter = %v, want %v", got, tt.retryAfter)
			}
			if tt.retryAfter != 0 {
				return
			}
			// Unmarked, the same source retries (3 retries in newSource).
			_, err = src.TokenContext(t.Context())
			if !auth.IsTransient(err) || srv.Requests() != 1+4 {
				t.Errorf("unmarked: got %v after %d requests in all, want a transient error after 1+4", err, srv.Requests())
			}
		})
	}
}
