package auth

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// FuzzParseResponse feeds token endpoint responses to the parser: it never
// panics, never accepts a token that is not usable, and its errors never show
// a token or the secret.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		`{"access_token":"abc","token_type":"bearer","expires_in":3600}`,
		`{"access_token":"abc","expires_in":"3600"}`,
		`{"access_token":"abc","token_type":"mac","expires_in":1}`,
		`{"error":"invalid_grant","error_description":"bad signature"}`,
		`<html>Login</html>`,
		`{"access_token":"abc","expires_in":1e300}`,
		`{"access_token":"abc","expires_in":-1}`,
		`{"access_token":"abc","expires_in":"NaN"}`,
		`{"access_token":"abc","expires_in":"+Inf"}`,
		`{"access_token":"abc","expires_in":"0x1p4"}`,
		`{"access_token":"abc","expires_in":1e-300}`,
		`{"access_token":"abc\r\nX-Injected: 1","expires_in":3600}`,
		`{"access_token":"a-._~+/b==","expires_in":"0003600"}`,
	} {
		f.Add(200, []byte(s))
		f.Add(400, []byte(s))
	}
	const secret = "fuzz-secret-value"
	src, err := NewSource(Credentials{KeyID: "k", Email: "e", Secret: secret, TokenEndpoint: "https://identity.example/oauth2/token"})
	if err != nil {
		f.Fatal(err)
	}
	sent := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		resp := &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body))}
		tok, err := src.parse(resp, body, sent, 1)
		if err == nil {
			if status != 200 || tok.AccessToken == "" || !tok.Expiry.After(sent) || tok.Expiry.After(sent.Add(bearer.MaxLifetime)) || tok.TokenType != "Bearer" {
				t.Fatalf("accepted %d %q as %+v", status, body, tok)
			}
			if err := bearer.Check(tok.AccessToken); err != nil {
				t.Fatalf("accepted a token that %v", err)
			}
			var tr tokenResponse
			if jsonUnmarshal(body, &tr) == nil && len(tr.ExpiresIn) > 0 && tr.ExpiresIn[0] == '"' {
				var str string
				if jsonUnmarshal(tr.ExpiresIn, &str) != nil || str == "" || strings.Trim(str, "0123456789") != "" {
					t.Fatalf("accepted expires_in %s, a string that is not decimal digits", tr.ExpiresIn)
				}
			}
			return
		}
		msg := err.Error()
		if strings.Contains(msg, secret) || strings.Contains(msg, "\n") {
			t.Fatalf("error shows the secret or spans lines: %q", msg)
		}
		if tr := (tokenResponse{}); status == 200 && jsonToken(body, &tr) && len(tr.AccessToken) >= 8 && strings.Contains(msg, tr.AccessToken) {
			t.Fatalf("error shows the access token: %q", msg)
		}
	})
}

// FuzzParseCredentialsFile: no panic, and errors never quote the secret.
func FuzzParseCredentialsFile(f *testing.F) {
	f.Add([]byte(`{"serviceAccount":{"keyId":"k","secret":"fuzz-secret-value","email":"e","algorithm":"HS256","tokenEndpoint":"https://x/t"}}`))
	f.Add([]byte(`{"serviceAccount":{"secret":"fuzz-secret-value"`))
	f.Add([]byte(`{"serviceAccount":{"secret":"fuzz-secret-value","algorithm":"fuzz-secret-value"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCredentialsFile(data, "creds.json")
		if err != nil {
			if strings.Contains(err.Error(), "fuzz-secret-value") {
				t.Fatalf("error quotes the secret: %v", err)
			}
			return
		}
		// What is printed of credentials does not depend on the secret.
		noSecret := c
		noSecret.Secret = ""
		if c.String() != noSecret.String() || c.GoString() != noSecret.GoString() {
			t.Fatalf("String depends on the secret: %s", c)
		}
	})
}

func jsonToken(body []byte, tr *tokenResponse) bool {
	return bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) && jsonUnmarshal(body, tr) == nil
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
