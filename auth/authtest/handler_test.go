package authtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestExchangeValid(t *testing.T) {
	s := newTestServer(t)
	resp, body, err := postToken(t, s.Client(), s.TokenURL(), validAssertion(t, testAccount, s.TokenURL(), testNow))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	r := decodeReply(t, body)
	if r.TokenType != "bearer" || r.ExpiresIn != 3600 || len(r.AccessToken) < 40 {
		t.Errorf("reply = %+v, want a bearer token of 3600s", r)
	}
	if !s.Valid(r.AccessToken) {
		t.Error("Valid(issued token) = false")
	}
	if s.Valid(r.AccessToken + "x") {
		t.Error("Valid(unknown token) = true")
	}
	info, ok := s.Token(r.AccessToken)
	if !ok || info.KeyID != testAccount.KeyID || info.Email != testAccount.Email || !info.ExpiresAt.Equal(testNow.Add(time.Hour)) {
		t.Errorf("Token() = %+v, %v", info, ok)
	}
	if got := len(s.Tokens()); got != 1 {
		t.Errorf("len(Tokens()) = %d, want 1", got)
	}
}

func TestAssertionRejections(t *testing.T) {
	s := newTestServer(t)
	aud := s.TokenURL()
	key := []byte(testAccount.Secret)
	kid := testAccount.KeyID
	hs256 := jwt.SigningMethodHS256
	with := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := validClaims(testAccount, aud, testNow)
		change(c)
		return c
	}
	valid := validClaims(testAccount, aud, testNow)

	tests := []struct {
		name      string
		assertion string
		status    int
		code      string // "" for success
	}{
		{"valid", sign(t, hs256, key, kid, valid), 200, ""},
		{"exp-iat exactly 3600", sign(t, hs256, key, kid, with(func(c jwt.MapClaims) { c["exp"] = testNow.Unix() + 3600 })), 200, ""},
		{"aud as one-element array", sign(t, hs256, key, kid, with(func(c jwt.MapClaims) { c["aud"] = []string{aud} })), 200, ""},
		{"iat in future within skew", sign(t, hs256, key, kid, with(func(c jwt.MapClaims) {
			c["iat"] = testNow.Unix() + 59
			c["exp"] = testNow.Unix() + 59 + 3600
		})), 200, ""},
		{"iat back-dated", sign(t, hs256, key, kid, with(func(c jwt.MapClaims) { c["iat"] = testNow.Unix() - 10; c["exp"] = testNow.Unix() + 3590 })), 200, ""},
		{"alg HS512", sign(t, jwt.SigningMethodHS512, key, kid, valid), 400, "invalid_grant"},
		{"alg HS384", sign(t, jwt.SigningMethodHS384, key, kid, valid), 400, "invalid_grant"},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, valid), 400, "invalid_grant"},
		{"HS256 header with empty signature", strings.TrimRight(sign(t, hs256, key, kid, valid), "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"), 400, "invalid_grant"},
		{"unknown kid", sign(t, hs256, key, "other-key", valid), 401, "invalid_client"},
		{"no kid", sign(t, hs256, key, "", valid), 400, "invalid_grant"},
		{"bad signature", sign(t, hs256, []byte("not the secret"), kid, valid), 400, "invalid_grant"},
		{"wrong iss", sign(t, hs256, key, kid, with(func(c jwt.MapClaims) { c["iss"] = "someone@else" })), 400, "invalid_grant"},
		{"missing iss", sign(t, hs256, key, kid, with(func(c jwt.MapClaims) { delete(c, "iss") })), 400, "invalid_grant"},
		{"aud with trailing slash", sign(t, hs256, key, kid, with(func(c jwt.MapClaims) { c["aud"] = aud + "/" })), 400, "invalid_grant"},
		{"aud of the DT service", sign(t, hs256, key, kid, with(func(c jwt.MapClaims) {
			c["aud"] = "https://identity.disruptive-technologies.com/oauth2/token"
		})), 400, "invalid_grant"},
		{"aud array with extra entry", sign(t, hs256, key, kid, with(func(c jwt.MapClaims) { c["aud"] = []string{aud, "x"} })), 400, "invalid_grant"},
		{"exp-iat 3601", sign(t, hs256, key, kid, with(func(c jwt.MapClaims) { c["exp"] = testNow.Unix() + 3601 })), 400, "invalid_grant"},
		{"exp before iat", sign(t, hs256, key, kid, with(func(c jwt.MapClaims) { c["exp"] = testNow.Unix() - 1 })), 400, "invalid_grant"},
		{"expired", sign(t, hs256, key, kid, with(func(c jwt.MapClaims) {
			c["iat"] = testNow.Unix() - 3600
			c["exp"] = testNow.Unix()
		})), 400, "invalid_grant"},
		{"iat in future beyond skew", sign(t, hs256, key, kid, with(func(c jwt.MapClaims) {
			c["iat"] = testNow.Unix() + 61
			c["exp"] = testNow.Unix() + 61 + 3600
		})), 400, "invalid_grant"},
		{"missing iat", sign(t, hs256, key, kid, with(func(c jwt.MapClaims) { delete(c, "iat") })), 400, "invalid_grant"},
		{"missing exp", sign(t, hs256, key, kid, with(func(c jwt.MapClaims) { delete(c, "exp") })), 400, "invalid_grant"},
		{"not a JWT", "not-a-jwt", 400, "invalid_grant"},
		{"garbage header", "e30x.e30.sig", 400, "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, err := postToken(t, s.Client(), s.TokenURL(), tt.assertion)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			r := decodeReply(t, body)
			if r.Error != tt.code {
				t.Errorf("error = %q, want %q (%s)", r.Error, tt.code, r.ErrorDescription)
			}
			if tt.code != "" && r.ErrorDescription == "" {
				t.Error("error_description is empty")
			}
			if tt.code == "" && !s.Valid(r.AccessToken) {
				t.Error("issued token is not Valid")
			}
			if strings.Contains(body, tt.assertion) || strings.Contains(body, testAccount.Secret) {
				t.Errorf("body echoes the assertion or secret: %s", body)
			}
		})
	}
}

func TestRequestRejections(t *testing.T) {
	s := newTestServer(t)
	good := validAssertion(t, testAccount, s.TokenURL(), testNow)
	form := url.Values{"grant_type": {GrantType}, "assertion": {good}}.Encode()
	const formType = "application/x-www-form-urlencoded"

	tests := []struct {
		name        string
		method      string
		query       string
		contentType string
		body        string
		status      int
		code        string
	}{
		{"valid", "POST", "", formType, form, 200, ""},
		{"content type with charset", "POST", "", formType + "; charset=utf-8", form, 200, ""},
		{"GET", "GET", "", "", "", 405, "invalid_request"},
		{"PUT", "PUT", "", formType, form, 405, "invalid_request"},
		{"query params", "POST", form, formType, "", 400, "invalid_request"},
		{"query params and body", "POST", "grant_type=" + url.QueryEscape(GrantType), formType, form, 400, "invalid_request"},
		{"JSON content type", "POST", "", "application/json", `{"grant_type":"` + GrantType + `"}`, 400, "invalid_request"},
		{"no content type", "POST", "", "", form, 400, "invalid_request"},
		{"multipart", "POST", "", "multipart/form-data; boundary=x", form, 400, "invalid_request"},
		{"wrong grant_type", "POST", "", formType, url.Values{"grant_type": {"client_credentials"}, "assertion": {good}}.Encode(), 400, "unsupported_grant_type"},
		{"missing grant_type", "POST", "", formType, url.Values{"assertion": {good}}.Encode(), 400, "invalid_request"},
		{"missing assertion", "POST", "", formType, url.Values{"grant_type": {GrantType}}.Encode(), 400, "invalid_request"},
		{"repeated assertion", "POST", "", formType, form + "&assertion=x", 400, "invalid_request"},
		{"malformed form", "POST", "", formType, "%zz", 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := s.TokenURL()
			if tt.query != "" {
				u += "?" + tt.query
			}
			req, err := http.NewRequest(tt.method, u, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, body, err := do(s.Client(), req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if tt.status == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q, want POST", resp.Header.Get("Allow"))
			}
			if r := decodeReply(t, body); r.Error != tt.code {
				t.Errorf("error = %q, want %q (%s)", r.Error, tt.code, r.ErrorDescription)
			}
			if strings.Contains(body, good) {
				t.Errorf("body echoes the assertion: %s", body)
			}
		})
	}
}

func TestTokenTTLAndClock(t *testing.T) {
	s := newTestServer(t)
	var mu sync.Mutex
	now := testNow
	s.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	s.SetTokenTTL(10 * time.Minute)

	_, body, err := postToken(t, s.Client(), s.TokenURL(), validAssertion(t, testAccount, s.TokenURL(), testNow))
	if err != nil {
		t.Fatal(err)
	}
	r := decodeReply(t, body)
	if r.ExpiresIn != 600 {
		t.Fatalf("expires_in = %d, want 600", r.ExpiresIn)
	}
	advance(599 * time.Second)
	if !s.Valid(r.AccessToken) {
		t.Error("token invalid 1s before expiry")
	}
	advance(time.Second)
	if s.Valid(r.AccessToken) {
		t.Error("token valid at expiry")
	}

	// The server's clock also judges assertions: one made at testNow has
	// expired an hour later.
	advance(time.Hour)
	resp, body, err := postToken(t, s.Client(), s.TokenURL(), validAssertion(t, testAccount, s.TokenURL(), testNow))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 || decodeReply(t, body).Error != "invalid_grant" {
		t.Errorf("stale assertion: status %d body %s, want 400 invalid_grant", resp.StatusCode, body)
	}
}

func TestMaxSkew(t *testing.T) {
	s := newTestServer(t)
	s.SetMaxSkew(0)
	claims := validClaims(testAccount, s.TokenURL(), testNow.Add(time.Second))
	a := sign(t, jwt.SigningMethodHS256, []byte(testAccount.Secret), testAccount.KeyID, claims)
	resp, _, err := postToken(t, s.Client(), s.TokenURL(), a)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 {
		t.Errorf("iat 1s ahead with no skew: status %d, want 400", resp.StatusCode)
	}
	s.SetMaxSkew(5 * time.Second)
	if resp, _, _ = postToken(t, s.Client(), s.TokenURL(), a); resp.StatusCode != 200 {
		t.Errorf("iat 1s ahead with 5s skew: status %d, want 200", resp.StatusCode)
	}
}

func TestAddAccount(t *testing.T) {
	s := newTestServer(t)
	other := Account{KeyID: "key-2", Email: "two@example.com", Secret: "two"}
	a := validAssertion(t, other, s.TokenURL(), testNow)
	if resp, _, _ := postToken(t, s.Client(), s.TokenURL(), a); resp.StatusCode != 401 {
		t.Fatalf("before AddAccount: status %d, want 401", resp.StatusCode)
	}
	s.AddAccount(other)
	resp, body, _ := postToken(t, s.Client(), s.TokenURL(), a)
	if resp.StatusCode != 200 {
		t.Fatalf("after AddAccount: status %d, want 200; %s", resp.StatusCode, body)
	}
	if info, _ := s.Token(decodeReply(t, body).AccessToken); info.KeyID != "key-2" {
		t.Errorf("token recorded for %q, want key-2", info.KeyID)
	}
}

func TestAuthorizeAndAPI(t *testing.T) {
	s := newTestServer(t)
	_, body, err := postToken(t, s.Client(), s.TokenURL(), validAssertion(t, testAccount, s.TokenURL(), testNow))
	if err != nil {
		t.Fatal(err)
	}
	token := decodeReply(t, body).AccessToken
	_, body, _ = postToken(t, s.Client(), s.TokenURL(), validAssertion(t, testAccount, s.TokenURL(), testNow))
	revoked := decodeReply(t, body).AccessToken
	s.Revoke(revoked)
	s.Revoke("never-issued") // must not panic

	tests := []struct {
		name   string
		path   string
		header string
		want   int
	}{
		{"valid", "/v2/", "Bearer " + token, 200},
		{"valid, lower-case scheme", "/v2/projects", "bearer " + token, 200},
		{"valid, bare /v2", "/v2", "Bearer " + token, 200},
		{"no header", "/v2/", "", 401},
		{"basic scheme", "/v2/", "Basic " + token, 401},
		{"empty token", "/v2/", "Bearer ", 401},
		{"unknown token", "/v2/", "Bearer nope", 401},
		{"revoked token", "/v2/", "Bearer " + revoked, 401},
		{"not the API", "/v3/", "Bearer " + token, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, s.URL+tt.path, nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			if tt.want != 404 {
				if err := s.Authorize(req); (err == nil) != (tt.want == 200) {
					t.Errorf("Authorize() = %v, want success %v", err, tt.want == 200)
				} else if err != nil && strings.Contains(err.Error(), token) {
					t.Errorf("Authorize error echoes the token: %v", err)
				}
			}
			resp, body, err := do(s.Client(), req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d; %s", resp.StatusCode, tt.want, body)
			}
			if tt.want == 200 && strings.TrimSpace(body) != `{"ok":true}` {
				t.Errorf("body = %s, want {\"ok\":true}", body)
			}
			if tt.want == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	if s.Requests() != 2 {
		t.Errorf("Requests() = %d, want 2: API calls must not count", s.Requests())
	}
}

func TestHandlerDerivesTokenURL(t *testing.T) {
	var mu sync.Mutex
	var logs []string
	h := NewHandler(Options{
		Accounts: []Account{testAccount},
		Clock:    func() time.Time { return testNow },
		Logf: func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			logs = append(logs, strings.TrimSpace(fmt.Sprintf(format, args...)))
		},
	})
	ts := httptest.NewServer(h)
	defer ts.Close()
	if h.TokenURL() != "" {
		t.Errorf("TokenURL() = %q, want empty", h.TokenURL())
	}
	a := validAssertion(t, testAccount, ts.URL+TokenPath, testNow)
	resp, body, err := postToken(t, ts.Client(), ts.URL+TokenPath, a)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200: %s", resp.StatusCode, body)
	}
	token := decodeReply(t, body).AccessToken
	// The query must not reach the log.
	req, _ := http.NewRequest(http.MethodPost, ts.URL+TokenPath+"?assertion="+a, nil)
	if _, _, err := do(ts.Client(), req); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(logs) != 2 {
		t.Fatalf("got %d log lines, want 2: %q", len(logs), logs)
	}
	if !strings.Contains(logs[0], "POST") || !strings.Contains(logs[0], TokenPath) || !strings.Contains(logs[0], "200") {
		t.Errorf("log line %q lacks method, path or status", logs[0])
	}
	for _, l := range logs {
		for _, secret := range []string{a, token, testAccount.Secret} {
			if strings.Contains(l, secret) {
				t.Errorf("log line %q leaks a secret", l)
			}
		}
	}
}
