// Package authtest is an in-process stand-in for the Disruptive Technologies
// identity service, for tests, in the style of net/http/httptest.
//
// It validates token requests and JWT assertions as DT documents them, issues
// random opaque access tokens, checks them on a minimal API under /v2/,
// serves DT's service-account key API there (create, list, get and delete a
// key; see [OpCreateKey]), and can inject faults (error statuses, odd bodies,
// delays, dropped or truncated connections) into the token endpoint and the
// key API:
//
//	srv := authtest.NewServer(authtest.Account{KeyID: "k", Email: "e@x", Secret: "s"})
//	defer srv.Close()
//	srv.Inject(authtest.ErrorFault(503, "temporarily_unavailable", "try later"))
//	// point the client at srv.TokenURL() ...
package authtest

import (
	"crypto/x509"
	"net/http"
	"net/http/httptest"
)

// Server is a Handler listening on a loopback port. The Handler's methods
// (Inject, Valid, Requests, SetClock, ...) are available on it directly.
type Server struct {
	*Handler

	// URL is the base URL, http://127.0.0.1:PORT (https for NewTLSServer).
	URL string

	ts *httptest.Server
}

// NewServer starts a plain HTTP Server on 127.0.0.1 knowing accounts.
func NewServer(accounts ...Account) *Server {
	return start(false, accounts)
}

// NewTLSServer starts an HTTPS Server on 127.0.0.1 knowing accounts. Use its
// Client, which trusts its certificate.
func NewTLSServer(accounts ...Account) *Server {
	return start(true, accounts)
}

func start(useTLS bool, accounts []Account) *Server {
	h := NewHandler(Options{Accounts: accounts})
	ts := httptest.NewUnstartedServer(h)
	if useTLS {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	h.setTokenURL(ts.URL + TokenPath)
	return &Server{Handler: h, URL: ts.URL, ts: ts}
}

// Client returns an HTTP client for the Server; for a TLS Server it trusts
// the Server's certificate.
func (s *Server) Client() *http.Client {
	return s.ts.Client()
}

// Certificate returns the TLS certificate of a TLS Server, nil otherwise.
func (s *Server) Certificate() *x509.Certificate {
	return s.ts.Certificate()
}

// Close abandons pending fault delays, then shuts the Server down.
func (s *Server) Close() {
	s.Handler.Close()
	s.ts.Close()
}
