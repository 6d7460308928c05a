package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
)

// The emulator stands in for DT's identity service and API. Its tokens live
// 2 s, so with a 1 s buffer each one is refreshed about 1 s later. (A buffer
// over half the lifetime would be cut to half of it.)
func TestRefreshLoop(t *testing.T) {
	acct := authtest.Account{KeyID: "k", Email: "sa@example", Secret: "loop-secret"}
	srv := authtest.NewServer(acct)
	defer srv.Close()
	srv.SetTokenTTL(2 * time.Second)
	var out strings.Builder
	cfg := config{apiURL: srv.URL + "/v2/projects", interval: 700 * time.Millisecond, buffer: time.Second, iterations: 5}
	creds := auth.Credentials{KeyID: acct.KeyID, Email: acct.Email, Secret: acct.Secret, TokenEndpoint: srv.TokenURL()}
	if err := run(context.Background(), cfg, creds, srv.Client(), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	refreshes := strings.Count(out.String(), "Refreshing...\n")
	if lines[0] != "Refreshing..." || refreshes < 2 || refreshes >= 5 {
		t.Errorf("want a refresh first and then only when due, got:\n%s", out.String())
	}
	if got := len(lines) - refreshes; got != 5 {
		t.Errorf("%d API calls reported, want 5:\n%s", got, out.String())
	}
	if srv.Requests() != refreshes {
		t.Errorf("%d token requests for %d refreshes", srv.Requests(), refreshes)
	}
	for _, l := range lines {
		if l != "Refreshing..." && !(strings.HasPrefix(l, "Token expires in ") && strings.HasSuffix(l, "s.")) {
			t.Errorf("unexpected line %q", l)
		}
	}
}
