package backend

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// readConcurrently makes n reads of token/<name> at once and returns the
// tokens read and the errors.
func (h *harness) readConcurrently(t *testing.T, name string, n int) ([]string, []error) {
	t.Helper()
	toks, errs := make([]string, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := h.request(t, logical.ReadOperation, "token/"+name, nil)
			errs[i] = err
			if err == nil {
				toks[i], _ = resp.Data["access_token"].(string)
			}
		})
	}
	wg.Wait()
	return toks, errs
}

// TestTokenOutageBacksOff is the outage inside the refresh window, as a
// fleet sees it: 50 readers at once, every second for 40 seconds, while DT
// fails and the cached token has 50 seconds left. Every read is served the
// cached token, and DT sees one request per step of bearer's back-off
// (each a single attempt), not one per read.
func TestTokenOutageBacksOff(t *testing.T) {
	const (
		readers = 50
		span    = 40 * time.Second
	)
	h := newHarness(t)
	h.writeAccount(t, "prod", h.account())
	first := h.readToken(t, "prod")["access_token"].(string)
	h.clock.add(authtest.DefaultTokenTTL - 50*time.Second)
	h.srv.InjectAlways(authtest.ErrorFault(503, "temporarily_unavailable", "down"))
	before := h.srv.Requests()
	for at := time.Duration(0); at <= span; at += time.Second {
		toks, errs := h.readConcurrently(t, "prod", readers)
		for i := range readers {
			if errs[i] != nil || toks[i] != first {
				t.Fatalf("at %v, reader %d: %v; want the cached token", at, i, errs[i])
			}
		}
		h.clock.add(time.Second)
	}
	// The schedule's bounds, a reader coming every second.
	lo, hi := 0, 0
	for at := time.Duration(0); at <= span; lo++ {
		_, d := bearer.BackoffSpan(lo+1, 0)
		at += (d + time.Second - 1) / time.Second * time.Second
	}
	for at := time.Duration(0); at <= span; hi++ {
		d, _ := bearer.BackoffSpan(hi+1, 0)
		at += max(d, time.Second)
	}
	got := h.srv.Requests() - before
	t.Logf("%d reads over %v: %d DT requests (the schedule allows %d to %d)", readers*41, span, got, lo, hi)
	if got < lo || got > hi {
		t.Errorf("%d DT requests, want %d to %d: one per step of the back-off", got, lo, hi)
	}
	if n := strings.Count(h.logs.String(), "serving the cached token until it expires"); n != got {
		t.Errorf("the failed refreshes are logged %d times, want once each (%d)", n, got)
	}
	if n := strings.Count(h.logs.String(), "[WARN]  serving") + strings.Count(h.logs.String(), "[WARN]  token refresh failed"); n != 1 {
		t.Errorf("%d warnings about serving the cached token, want 1 (the first failure):\n%s", n, h.logs.String())
	}
}

// TestTokenOutageAfterExpiryFailsFast: with no valid token, the first
// reader's refresh is a full attempt (retried) and fails with a 503; the
// readers after it get the same 503 at once, without a DT request, until
// the back-off ends; then one full attempt again, and once DT is back, a
// token.
func TestTokenOutageAfterExpiryFailsFast(t *testing.T) {
	h := newHarness(t)
	h.writeAccount(t, "prod", h.account())
	h.srv.InjectAlways(authtest.ErrorFault(503, "temporarily_unavailable", "down"))
	_, err := h.request(t, logical.ReadOperation, "token/prod", nil)
	if codeOf(err) != http.StatusServiceUnavailable || h.srv.Requests() != 3 {
		t.Fatalf("first read: %v after %d DT requests; want a 503 after 3 (two retries)", err, h.srv.Requests())
	}
	want := err.Error()
	h.clock.add(100 * time.Millisecond)
	_, errs := h.readConcurrently(t, "prod", 50)
	for i, err := range errs {
		if codeOf(err) != http.StatusServiceUnavailable || !strings.HasPrefix(err.Error(), want+" (not tried again before ") {
			t.Fatalf("reader %d: %v; want the first read's 503 again, saying when DT is asked next", i, err)
		}
	}
	if n := h.srv.Requests(); n != 3 {
		t.Fatalf("the readers inside the back-off made %d DT requests, want none", n-3)
	}
	h.clock.add(bearer.BackoffCap)
	if _, err := h.request(t, logical.ReadOperation, "token/prod", nil); codeOf(err) != http.StatusServiceUnavailable || h.srv.Requests() != 6 {
		t.Fatalf("after the back-off: %v after %d DT requests; want a 503 after 3 more", err, h.srv.Requests())
	}
	h.srv.ClearFaults()
	h.clock.add(bearer.BackoffCap)
	if tok := h.readToken(t, "prod")["access_token"].(string); !h.srv.Valid(tok) {
		t.Fatal("no token once DT is back")
	}
}

// TestTokenCoveredRefreshIsBounded: with a valid token cached, a refresh
// against a DT that does not answer takes a single attempt within
// bearer.CoveredBudget, and the cached token is served; the readers that
// come meanwhile wait at most that long for it too.
func TestTokenCoveredRefreshIsBounded(t *testing.T) {
	h := newHarness(t)
	h.writeAccount(t, "prod", h.account())
	first := h.readToken(t, "prod")["access_token"].(string)
	h.clock.add(authtest.DefaultTokenTTL - 50*time.Second)
	h.srv.InjectAlways(authtest.Fault{Delay: time.Minute})
	toks, errs := h.readConcurrently(t, "prod", 20)
	for i := range toks {
		if errs[i] != nil || toks[i] != first {
			t.Fatalf("reader %d: %v; want the cached token", i, errs[i])
		}
	}
	if n := h.srv.Requests(); n != 2 {
		t.Errorf("%d DT requests, want 2 (the first token, one attempt)", n)
	}
}
