//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/bearer"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// An outage: a second emulator whose every token request fails (503), and
// accounts of its own whose calls the outage rows time. The main emulator
// keeps answering, so the other rows' request counts stay exact.

// outageBuffer is the refresh buffer of the outage rows' calls, and
// outageLeft what is left of their cached token: inside the window, and
// valid for the whole run, however long it takes.
const (
	outageBuffer = 20 * time.Minute
	outageLeft   = 19 * time.Minute
)

// outageStderr is what a call inside the back-off with no valid token
// prints: the earlier failure, and when the next attempt is made.
const outageStderr = "not tried again before"

type outage struct {
	handler *authtest.Handler
	srv     *httptest.Server
	base    []string // our environment, pointed at the failing endpoint
	tmp     string
	id      string
	forget  []func()
}

func newOutage(tmp string, ourEnv []string, id string) *outage {
	h := authtest.NewHandler(authtest.Options{})
	h.InjectAlways(authtest.ErrorFault(http.StatusServiceUnavailable, "temporarily_unavailable", "the bench's outage"))
	srv := httptest.NewServer(h)
	o := &outage{handler: h, srv: srv, tmp: tmp, id: id}
	o.base = append(slices.Clone(ourEnv), "DT_TOKEN_ENDPOINT="+srv.URL+authtest.TokenPath)
	return o
}

func (o *outage) close() {
	for _, f := range o.forget {
		f()
	}
	o.srv.Close()
	o.handler.Close()
}

// account is an account of its own at the failing endpoint, its cache in
// the default (auto) stores, and its environment.
func (o *outage) account(name string) (keyring.Account, []string, keyring.LocationConfig) {
	keyID := "bench-" + name + "-" + o.id
	env := append(slices.Clone(o.base), "DT_SERVICE_ACCOUNT_KEY_ID="+keyID)
	endpoint := o.srv.URL + authtest.TokenPath
	email := envOf(env, "DT_SERVICE_ACCOUNT_EMAIL")
	key := keyring.Key(endpoint, keyID, email)
	acct := keyring.Account{Endpoint: endpoint, KeyID: keyID, Email: email,
		Identity: keyring.NewIdentity(key, envOf(env, "DT_SERVICE_ACCOUNT_SECRET"))}
	cfg := keyring.LocationConfig{Getenv: func(k string) string { return envOf(env, k) }}
	o.forget = append(o.forget, func() { _ = keyring.Forget(context.Background(), cfg, acct) })
	return acct, env, cfg
}

// seeded is an account whose cache holds a token with outageLeft to live,
// as the command would have cached it an hour before: inside the refresh
// window of a call with --refresh-buffer outageBuffer. It returns the
// account's environment and the token.
func (o *outage) seeded(name string) ([]string, string, error) {
	acct, env, cfg := o.account(name)
	loc, err := keyring.OpenLocation(cfg)
	if err != nil {
		return nil, "", err
	}
	tok := "bench-outage-token-" + name + "-" + o.id
	expiry := time.Now().Add(outageLeft)
	e := keyring.NewEntry(&oauth2.Token{AccessToken: tok, TokenType: "Bearer", Expiry: expiry}, acct, expiry.Add(-time.Hour))
	if err := loc.Store.Set(acct.Key(), e.Encode()); err != nil {
		return nil, "", fmt.Errorf("seeding the %s store: %w", loc.Store.Name(), err)
	}
	return env, tok, nil
}

// rows returns the outage rows: a cached call during the outage, after
// the first failure, and a failing call after expiry, inside the back-off.
// Each row's first call, made by the caller before the timed ones, is the
// failure the back-off follows.
func (o *outage) rows(bin string) ([]row, error) {
	helper := filepath.Join(bin, "dt-credential-helper")
	env, tok, err := o.seeded("outage")
	if err != nil {
		return nil, err
	}
	cached := row{id: "outage", name: "ours, default build, token, auto, **during an outage**: cached token inside its refresh window, after the first failure",
		args: []string{helper, "token", "--refresh-buffer", outageBuffer.String()}, env: env, floor: floorPlain,
		want: tok, offline: true, ours: true}
	_, env, _ = o.account("failing")
	failing := row{id: "outage-failing", name: "ours, default build, token, auto, **during an outage**: no valid token, after the first failure (exit 1)",
		args: []string{helper, "token"}, env: env, floor: floorPlain, fails: true, ours: true}
	return []row{cached, failing}, nil
}

// fastFails counts, of a failing row's timed calls, those that failed at
// once inside the back-off; the others made a full attempt.
func fastFails(results []result) int {
	n := 0
	for _, r := range results {
		if strings.Contains(r.stderr, outageStderr) {
			n++
		}
	}
	return n
}

// exitCode is the exit status err reports, -1 for none.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// crowd is issue 21's target as processes run it: procs processes calling
// once a second for span against the failing endpoint, a valid token
// cached inside its refresh window. It prints the token requests the
// endpoint saw and returns what was wrong: a call that failed or printed
// another token, more requests than the back-off's steps allow, or more
// than the first failure's warning on stderr.
func (o *outage) crowd(bin string, procs int, span time.Duration) []string {
	env, tok, err := o.seeded("crowd")
	if err != nil {
		return []string{"the crowd: " + err.Error()}
	}
	r := row{args: []string{filepath.Join(bin, "dt-credential-helper"), "token", "-o", "token", "--refresh-buffer", outageBuffer.String()}, env: env}
	before := o.handler.Requests()
	var mu sync.Mutex
	var bad, warnings []string
	calls := 0
	start := time.Now()
	for at := time.Duration(0); at < span; at += time.Second {
		time.Sleep(time.Until(start.Add(at)))
		var wg sync.WaitGroup
		for range procs {
			wg.Go(func() {
				res := call(r, true)
				mu.Lock()
				defer mu.Unlock()
				calls++
				if res.err != nil || strings.TrimSpace(res.stdout) != tok {
					bad = append(bad, firstLine(res.stderr, res.err))
				}
				if res.stderr != "" {
					warnings = append(warnings, firstLine(res.stderr, nil))
				}
			})
		}
		wg.Wait()
	}
	took := time.Since(start)
	n := o.handler.Requests() - before
	limit := maxSteps(took)
	fmt.Printf("- A crowd during an outage (issue 21's target): %d processes calling once a second for %v (%d calls) against a token endpoint answering 503, a valid token cached inside its refresh window: %d token requests in all (the back-off allows at most %d in that time; without it, each call made 5: %d); calls that did not print the cached token: %d; lines on stderr: %d (want 1, the first failure's warning).\n",
		procs, took.Round(time.Second), calls, n, limit, 5*calls, len(bad), len(warnings))
	var problems []string
	if n > limit {
		problems = append(problems, fmt.Sprintf("the crowd made %d token requests, more than the back-off's %d steps", n, limit))
	}
	if len(bad) > 0 {
		problems = append(problems, fmt.Sprintf("%d crowd calls did not print the cached token (%s)", len(bad), bad[0]))
	}
	if len(warnings) != 1 {
		problems = append(problems, fmt.Sprintf("the crowd printed %d lines on stderr, want 1", len(warnings)))
	}
	return problems
}

// maxSteps is the most attempts bearer's back-off allows in span, callers
// coming every second: each wait at its shortest, plus one for a second
// that comes late.
func maxSteps(span time.Duration) int {
	n, at := 0, time.Duration(0)
	for at <= span {
		n++
		lo, _ := bearer.BackoffSpan(n, 0)
		at += max(lo, time.Second)
	}
	return n + 1
}

// envOf is the value of name in env.
func envOf(env []string, name string) string {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, name+"="); ok {
			return v
		}
	}
	return ""
}
