package authtest

import (
	"net/http"
	"strings"
	"testing"
)

func TestTLSServer(t *testing.T) {
	s := NewTLSServer(testAccount)
	defer s.Close()
	if !strings.HasPrefix(s.URL, "https://127.0.0.1:") {
		t.Errorf("URL = %q, want https://127.0.0.1:PORT", s.URL)
	}
	if s.Certificate() == nil {
		t.Fatal("Certificate() = nil")
	}
	if s.TokenURL() != s.URL+"/oauth2/token" {
		t.Errorf("TokenURL() = %q", s.TokenURL())
	}
	// The default clock is real time.
	a := validAssertion(t, testAccount, s.TokenURL(), nowish())
	resp, body, err := postToken(t, s.Client(), s.TokenURL(), a)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if tok := decodeReply(t, body).AccessToken; !s.Valid(tok) {
		t.Error("TLS-issued token not Valid")
	}
	// An http:// aud is not this server's token URL.
	a = validAssertion(t, testAccount, strings.Replace(s.TokenURL(), "https", "http", 1), nowish())
	if resp, _, _ := postToken(t, s.Client(), s.TokenURL(), a); resp.StatusCode != 400 {
		t.Errorf("http aud on TLS server: status %d, want 400", resp.StatusCode)
	}
	if _, err := http.Get(s.TokenURL()); err == nil {
		t.Error("default client trusted the test certificate")
	}
}

func TestPlainServer(t *testing.T) {
	s := NewServer()
	defer s.Close()
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Errorf("URL = %q, want http://127.0.0.1:PORT", s.URL)
	}
	if s.Certificate() != nil {
		t.Error("plain server has a certificate")
	}
	s.AddAccount(testAccount)
	resp, body, err := postToken(t, s.Client(), s.TokenURL(), validAssertion(t, testAccount, s.TokenURL(), nowish()))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("exchange: %v %v %s", err, resp, body)
	}
}
