package authtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testAccount = Account{KeyID: "key-1", Email: "sa-1@project.serviceaccount.d21s.com", Secret: "s3cret:with:colons"}

// testNow is the fixed time the tests' clocks start at.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// sign builds an assertion; kid "" leaves the header without one.
func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("signing assertion: %v", err)
	}
	return s
}

// validClaims returns the claims DT wants for acct at now.
func validClaims(acct Account, aud string, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": acct.Email,
		"aud": aud,
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
}

func validAssertion(t *testing.T, acct Account, aud string, now time.Time) string {
	t.Helper()
	return sign(t, jwt.SigningMethodHS256, []byte(acct.Secret), acct.KeyID, validClaims(acct, aud, now))
}

type tokenReply struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// postToken sends a well-formed token request carrying assertion.
func postToken(t *testing.T, c *http.Client, tokenURL, assertion string) (*http.Response, string, error) {
	t.Helper()
	form := url.Values{"grant_type": {GrantType}, "assertion": {assertion}}
	req, err := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(c, req)
}

func do(c *http.Client, req *http.Request) (*http.Response, string, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func decodeReply(t *testing.T, body string) tokenReply {
	t.Helper()
	var r tokenReply
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("response body is not JSON: %v: %q", err, body)
	}
	return r
}

// newTestServer returns a Server with testAccount and a clock fixed at testNow.
func newTestServer(t *testing.T) *Server {
	t.Helper()
	s := NewServer(testAccount)
	t.Cleanup(s.Close)
	s.SetClock(func() time.Time { return testNow })
	return s
}

// nowish is real time back-dated a little, as DT's own client does.
func nowish() time.Time { return time.Now().Add(-5 * time.Second) }
