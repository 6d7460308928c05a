package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// TestOutageStatusShowsTheBackoff: during an outage, status says that
// refreshing is backing off, since when and until when, beside the cached
// token it still reports (and -o json carries the failure, one printable
// line); it shows no token, and asks the failing endpoint nothing. Once a
// refresh succeeds, the back-off is gone from it too.
func TestOutageStatusShowsTheBackoff(t *testing.T) {
	f := newOutageFixture(t, "file")
	cached := f.seed(t, 50*time.Second)
	f.srv.InjectAlways(authtest.ErrorFault(http.StatusServiceUnavailable, "temporarily_unavailable", "down \x1b]0;title\x07"))
	before := time.Now().UTC().Truncate(time.Second)
	if r := runFor(t, runLimit, f.env, "", "token", "-o", "token"); r.code != 0 || r.stdout != cached+"\n" {
		t.Fatalf("the first call of the outage: exit %d, stderr %q; want the cached token", r.code, r.stderr)
	}
	requests := f.srv.Requests()

	r := runFor(t, runLimit, f.env, "", "status", "-o", "json")
	checkNoLeak(t, r)
	if r.code != 0 {
		t.Fatalf("status -o json: exit %d, stderr %q", r.code, r.stderr)
	}
	rep := decodeStatus(t, r.stdout)
	if len(rep.Accounts) != 1 || rep.Accounts[0].Token == nil {
		t.Fatalf("status -o json: want one account with its token:\n%s", r.stdout)
	}
	_, firstWait := bearer.BackoffSpan(1, 0)
	tok := rep.Accounts[0].Token
	b := tok.RefreshBackoff
	switch {
	case tok.State != "valid":
		t.Errorf("status -o json: the cached token is %q, want valid", tok.State)
	case b == nil:
		t.Errorf("status -o json says nothing of the back-off:\n%s", r.stdout)
	case b.FailedAt.Before(before) || !b.NextAttempt.After(b.FailedAt.Add(-time.Second)) || b.NextAttempt.After(time.Now().Add(firstWait)):
		t.Errorf("status -o json: failed at %v, next attempt %v; want a failure since %v and a first wait", b.FailedAt, b.NextAttempt, before)
	case !strings.Contains(b.Error, "503") || strings.ContainsAny(b.Error, "\x1b\x07\n"):
		t.Errorf("status -o json: the failure %q, want the 503, one printable line", b.Error)
	}

	table := runFor(t, runLimit, f.env, "", "status")
	checkNoLeak(t, table)
	if !strings.Contains(table.stdout, "valid until") || !strings.Contains(table.stdout, "refresh failing since") || strings.Contains(table.stdout, "\x1b") {
		t.Errorf("status:\n%s\nwant the valid token and the refresh failing", table.stdout)
	}
	if n := f.srv.Requests() - requests; n != 0 {
		t.Errorf("status made %d token requests", n)
	}

	f.srv.ClearFaults()
	if r := runFor(t, runLimit, f.env, "", "token", "-o", "token", "--force-refresh"); r.code != 0 {
		t.Fatalf("the service back: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runFor(t, runLimit, f.env, "", "status", "-o", "json"); strings.Contains(r.stdout, "refresh_backoff") {
		t.Errorf("status after a successful refresh still shows a back-off:\n%s", r.stdout)
	}
}
