package vaulttoken

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRedirectNotFollowed: a Vault answering 307 does not get the Vault
// token sent on to wherever it points.
func TestRedirectNotFollowed(t *testing.T) {
	var caught atomic.Int32
	catcher := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caught.Add(1)
	}))
	defer catcher.Close()
	vault := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, catcher.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer vault.Close()
	t.Setenv("VAULT_ADDR", vault.URL)
	t.Setenv("VAULT_TOKEN", "s.redirect-test-token")
	t.Setenv("VAULT_MAX_RETRIES", "0")
	src, err := NewSource(Config{Path: "dt/token/prod"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.TokenContext(context.Background()); err == nil {
		t.Fatal("a redirect was answered with a token")
	}
	if n := caught.Load(); n != 0 {
		t.Errorf("the redirect's target got %d requests, with the Vault token", n)
	}
}

// TestAddressRule: the Vault token goes over https, or plain http only to
// this machine, and the address holds no password.
func TestAddressRule(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"http://vault.example.com:8200", "not https"},
		{"https://user:hunter2@vault.example.com:8200", "user name or password"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			t.Setenv("VAULT_ADDR", tc.addr)
			t.Setenv("VAULT_TOKEN", "s.address-test-token")
			src, err := NewSource(Config{Path: "dt/token/prod"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = src.TokenContext(context.Background())
			var e *Error
			if !errors.As(err, &e) || e.Kind != Misconfigured || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a configuration error saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// TestErrorTextCleaned: Vault's error text is repeated without the Vault
// token, a JWT, control characters, or more than a few hundred bytes.
func TestErrorTextCleaned(t *testing.T) {
	const vaultToken = "s.echoed-vault-token"
	echo := "bad token " + vaultToken + " eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmbGVldCJ9.c2lnbmF0dXJlLXNpZw \x1b]0;owned\x07\x1b[2J" + strings.Repeat("x", 200<<10)
	vault := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"errors":[` + quoteJSON(echo) + `]}`))
	}))
	defer vault.Close()
	c := client(t, vault.URL)
	c.SetToken(vaultToken)
	src, err := NewSource(Config{Client: c, Path: "dt/token/prod"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.TokenContext(context.Background())
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, bad := range []string{vaultToken, "eyJhbGciOiJIUzI1NiJ9", "\x1b", "\x07"} {
		if strings.Contains(msg, bad) {
			t.Errorf("the error holds %q", bad)
		}
	}
	if len(msg) > 1000 {
		t.Errorf("the error is %d bytes long", len(msg))
	}
	if !strings.Contains(msg, "HTTP 400") {
		t.Errorf("the error does not say what Vault answered: %q", msg)
	}
}

func quoteJSON(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// TestTokenRuleApplied: a token Vault returns is held to the rule every
// token of the module follows (bearer.Check), whatever engine answered:
// one that could inject into a header or a git or docker reply is a bad
// response that does not quote it.
func TestTokenRuleApplied(t *testing.T) {
	for _, tc := range []struct {
		name, token, err string
	}{
		{"a good token", "Vault.Token-0K_~+/==", ""},
		{"a token with a line break", "bad token\npassword=leaked", "the access token Vault returned is refused: it has a character that a bearer token may not have (RFC 6750 b64token) at byte 4"},
		{"an oversized token", strings.Repeat("A", 32<<10+1), "is 32769 bytes long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vault := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v1/dt/token/prod" {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"data":{"access_token":%s,"token_type":"Bearer","expires_at":%q}}`,
					quoteJSON(tc.token), time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
			}))
			defer vault.Close()
			src, err := NewSource(Config{Client: client(t, vault.URL), Path: "dt/token/prod"})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := src.TokenContext(context.Background())
			if tc.err == "" {
				if err != nil || tok.AccessToken != tc.token {
					t.Fatalf("TokenContext = token %t, error %v; want the token", tok != nil, err)
				}
				return
			}
			var ve *Error
			if !errors.As(err, &ve) || ve.Kind != BadResponse || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("TokenContext = token %t, error %v; want a bad response saying %q", tok != nil, err, tc.err)
			}
			if strings.Contains(err.Error(), "leaked") || strings.Contains(err.Error(), "AAAAAAAA") {
				t.Errorf("the error quotes the token: %v", err)
			}
		})
	}
}
