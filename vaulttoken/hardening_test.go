package vaulttoken

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
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
