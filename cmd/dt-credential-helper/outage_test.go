package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/bearer"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// The outage tests: the built binary, as kubectl runs it (a process per
// call), against the emulator standing in for a failing DT identity
// service. Attempts are counted at the emulator, not in wall time.
//
// The top-level tests are not parallel: they start hundreds of processes,
// and a fork in one goroutine while another has a copied binary open for
// writing makes that binary's exec fail with ETXTBSY (golang/go#22315), as
// TestVersionPluginMissing's was seen to. Run before the parallel tests,
// their forks overlap only each other's (their subtests are parallel).

// outageFixture is an account of its own at an emulator, and the store
// its binary caches in ("file", or "kernel" where keyctl works).
type outageFixture struct {
	srv   *authtest.Server
	env   []string
	store keyring.Store
	key   string
}

func newOutageFixture(t *testing.T, cache string) *outageFixture {
	t.Helper()
	keyID := uniqueName("outage-")
	srv := authtest.NewServer(authtest.Account{KeyID: keyID, Email: testAccount.Email, Secret: testSecret})
	t.Cleanup(srv.Close)
	env := withEnv(baseEnv(t, srv.TokenURL()), "DT_SERVICE_ACCOUNT_KEY_ID="+keyID, "DT_TOKEN_CACHE="+cache)
	f := &outageFixture{srv: srv, env: env, key: keyring.Key(srv.TokenURL(), keyID, testAccount.Email)}
	switch cache {
	case "file":
		f.store = keyring.NewFileStore(envValue(env, "DT_CACHE_DIR"))
	case "kernel":
		f.store = kernelStoreOrSkip(t)
		t.Cleanup(func() { f.store.Delete(f.key); f.store.Delete(f.key + ".backoff") })
	}
	return f
}

// seed caches a token the emulator issued that expires in left, as the
// binary caches it (an hour's token, obtained an hour before its expiry).
func (f *outageFixture) seed(t *testing.T, left time.Duration) string {
	t.Helper()
	r := runFor(t, runLimit, withEnv(f.env, "DT_TOKEN_CACHE=none"), "", "token", "-o", "token")
	tok := strings.TrimSuffix(r.stdout, "\n")
	if r.code != 0 || !f.srv.Valid(tok) {
		t.Fatalf("getting a token to seed: exit %d, stderr %q", r.code, r.stderr)
	}
	acct := keyring.Account{Endpoint: f.srv.TokenURL(), KeyID: envValue(f.env, "DT_SERVICE_ACCOUNT_KEY_ID"), Email: testAccount.Email,
		Identity: keyring.NewIdentity(f.key, testSecret)}
	expiry := time.Now().Add(left)
	e := keyring.NewEntry(&oauth2.Token{AccessToken: tok, TokenType: "Bearer", Expiry: expiry}, acct, expiry.Add(-time.Hour))
	if err := f.store.Set(f.key, e.Encode()); err != nil {
		t.Fatal(err)
	}
	f.srv.ResetRequests()
	return tok
}

// outageMaxAttempts is the most attempts bearer's schedule allows in span
// with callers every tick, each wait at its shortest, plus one for a tick
// that lands late.
func outageMaxAttempts(span, tick time.Duration) int {
	n, at := 0, time.Duration(0)
	for at <= span {
		n++
		lo, _ := bearer.BackoffSpan(n, 0)
		at += max(lo, tick)
	}
	return n + 1
}

// TestOutageProcessesBackOffTogether is issue 21's target, on a shorter
// schedule: 32 processes calling once a second while the token endpoint
// fails (503) and the cached token is inside its refresh window. Every call
// exits 0 with the cached token; the endpoint sees at most one attempt per
// step of the back-off in total (the record every process reads beside the
// entry), where each call used to make five; stderr has the one warning of
// the first failure and nothing after it.
func TestOutageProcessesBackOffTogether(t *testing.T) {
	for _, cache := range []string{"file", "kernel"} {
		t.Run(cache, func(t *testing.T) {
			t.Parallel()
			const (
				procs = 32
				ticks = 10
			)
			f := newOutageFixture(t, cache)
			cached := f.seed(t, 50*time.Second)
			f.srv.InjectAlways(authtest.ErrorFault(http.StatusServiceUnavailable, "temporarily_unavailable", "down"))
			var warnings []string
			start := time.Now()
			for tick := range ticks {
				time.Sleep(time.Until(start.Add(time.Duration(tick) * time.Second)))
				results := make([]result, procs)
				errs := make([]error, procs)
				var wg sync.WaitGroup
				for i := range procs {
					wg.Go(func() { results[i], errs[i] = execBounded(f.env, "", runLimit, "token", "-o", "token") })
				}
				wg.Wait()
				for i, r := range results {
					if errs[i] != nil {
						t.Fatal(errs[i])
					}
					checkNoLeak(t, r)
					if r.code != 0 || r.stdout != cached+"\n" {
						t.Fatalf("tick %d, process %d: exit %d, stderr %q; want 0 and the cached token", tick, i, r.code, r.stderr)
					}
					if r.stderr != "" {
						warnings = append(warnings, r.stderr)
					}
				}
			}
			span := time.Since(start)
			got, limit := f.srv.Requests(), outageMaxAttempts(span, time.Second)
			t.Logf("%s store: %d calls in %v: %d token requests (the schedule allows at most %d; before the back-off, 5 per call)",
				cache, procs*ticks, span.Round(time.Millisecond), got, limit)
			if got < 2 || got > limit {
				t.Errorf("%d token requests, want 2 to %d: one per step of the back-off", got, limit)
			}
			if len(warnings) != 1 || !strings.HasPrefix(warnings[0], prog+": warning: refresh failed (") {
				t.Errorf("stderr of all the calls: %q; want the one warning of the first failure", warnings)
			}
		})
	}
}

// TestOutageAfterExpiryFailsFast: with no valid token and the endpoint
// down, the first call makes its full attempt (five requests) and fails;
// the calls after it inside the back-off fail at once with the same error
// (exit 1, no request); --force-refresh ignores the back-off; after it
// ends, one call asks again; once the service is back, a call succeeds and
// the record is gone.
func TestOutageAfterExpiryFailsFast(t *testing.T) {
	f := newOutageFixture(t, "file")
	f.srv.InjectAlways(authtest.ErrorFault(http.StatusServiceUnavailable, "temporarily_unavailable", "down"))
	first := runFor(t, runLimit, f.env, "", "token", "-o", "token")
	if first.code != 1 || f.srv.Requests() != 5 {
		t.Fatalf("first call: exit %d after %d requests, stderr %q; want 1 after 5", first.code, f.srv.Requests(), first.stderr)
	}
	want := strings.TrimSuffix(first.stderr, "\n")
	// The record the failure left is private, beside the entry.
	if fi, err := os.Lstat(filepath.Join(envValue(f.env, "DT_CACHE_DIR"), f.key+".backoff")); err != nil ||
		(runtime.GOOS != "windows" && fmt.Sprint(fi.Mode()) != "-rw-------") {
		t.Errorf("the back-off record: %v, %v; want a file, -rw-------", fi, err)
	}
	for i := range 10 {
		r := runFor(t, runLimit, f.env, "", "token", "-o", "token")
		if r.code != 1 || r.stdout != "" || !strings.HasPrefix(r.stderr, want+" (at ") || !strings.Contains(r.stderr, "not tried again before") ||
			strings.Count(r.stderr, "\n") != 1 {
			t.Fatalf("call %d inside the back-off: exit %d, stderr %q; want 1 and the first call's error, one line", i+2, r.code, r.stderr)
		}
	}
	if n := f.srv.Requests(); n != 5 {
		t.Fatalf("the calls inside the back-off made %d token requests, want none", n-5)
	}
	verbose := runFor(t, runLimit, f.env, "", "token", "-o", "token", "--verbose")
	if verbose.code != 1 || !strings.Contains(verbose.stderr, "refreshing is backing off after a failure: failing at once") {
		t.Errorf("--verbose inside the back-off: exit %d, stderr:\n%s\nwant it to say why it fails at once", verbose.code, verbose.stderr)
	}

	forced := runFor(t, runLimit, f.env, "", "token", "-o", "token", "--force-refresh")
	if forced.code != 1 || f.srv.Requests() != 10 || strings.Contains(forced.stderr, "not tried again") {
		t.Fatalf("--force-refresh: exit %d after %d requests in all, stderr %q; want a full attempt (5 more) and its own error",
			forced.code, f.srv.Requests(), forced.stderr)
	}
	// The forced failure was the second in a row: a wait of at most 2s.
	_, hi := bearer.BackoffSpan(2, 0)
	time.Sleep(hi + 100*time.Millisecond)
	again := runFor(t, runLimit, f.env, "", "token", "-o", "token")
	if again.code != 1 || f.srv.Requests() != 15 {
		t.Fatalf("after the back-off: exit %d after %d requests in all; want another full attempt (5 more)", again.code, f.srv.Requests())
	}

	f.srv.ClearFaults()
	_, hi = bearer.BackoffSpan(3, 0)
	time.Sleep(hi + 100*time.Millisecond)
	r := runFor(t, runLimit, f.env, "", "token", "-o", "token")
	if tok := strings.TrimSuffix(r.stdout, "\n"); r.code != 0 || !f.srv.Valid(tok) {
		t.Fatalf("the service back: exit %d, stderr %q; want a token", r.code, r.stderr)
	}
	if _, err := os.Lstat(filepath.Join(envValue(f.env, "DT_CACHE_DIR"), f.key+".backoff")); !os.IsNotExist(err) {
		t.Errorf("the back-off record outlived the successful refresh: %v", err)
	}
}

// TestOutageBackoffRecord: the record is a private file beside the entry,
// and one the binary cannot believe (written by a clock since set back, or
// waiting longer than the back-off allows) holds nobody off; a believable
// one does, and --verbose says so once.
func TestOutageBackoffRecord(t *testing.T) {
	f := newOutageFixture(t, "file")
	cached := f.seed(t, 50*time.Second)
	path := filepath.Join(envValue(f.env, "DT_CACHE_DIR"), f.key+".backoff")
	write := func(failed, notBefore time.Duration) {
		t.Helper()
		now := time.Now().UTC()
		rec, err := json.Marshal(map[string]any{
			"v": 1, "endpoint": f.srv.TokenURL(), "key_id": envValue(f.env, "DT_SERVICE_ACCOUNT_KEY_ID"), "email": testAccount.Email,
			"failures": 3, "failed": now.Add(failed), "not_before": now.Add(notBefore), "expiry": now.Add(notBefore + time.Minute),
			"message": "token request failed: HTTP 503",
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, rec, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name              string
		failed, notBefore time.Duration // from now
		holds             bool
	}{
		{"a believable record holds", -time.Second, 20 * time.Second, true},
		{"written an hour in the future", time.Hour, time.Hour + 10*time.Second, false},
		{"waiting longer than the back-off allows", -time.Second, 10 * time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write(tc.failed, tc.notBefore)
			before := f.srv.Requests()
			r := runFor(t, runLimit, f.env, "", "token", "-o", "token", "--verbose")
			tok := strings.TrimSuffix(r.stdout, "\n")
			asked := f.srv.Requests() - before
			switch {
			case r.code != 0:
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			case tc.holds && (asked != 0 || tok != cached || strings.Count(r.stderr, "refreshing is backing off") != 1):
				t.Errorf("%d requests, the cached token: %v, stderr:\n%s\nwant no request, the cached token, and the back-off said once",
					asked, tok == cached, r.stderr)
			case !tc.holds && (asked != 1 || tok == cached):
				t.Errorf("%d requests, a new token: %v; want the record ignored, one request and a new token", asked, tok != cached)
			}
			if !tc.holds {
				f.seed(t, 50*time.Second)
			}
		})
	}
	write(-time.Second, 20*time.Second)
	if r := runFor(t, runLimit, f.env, "", "token", "-o", "token"); r.code != 0 || r.stderr != "" {
		t.Errorf("without --verbose: exit %d, stderr %q; want 0 and nothing on stderr", r.code, r.stderr)
	}
}

// outageRow is one row of the outage matrix: the token endpoint failing
// (503 every time), a cache state, and what a call does in it.
// docs/reliability.md shows the rows as a table (TestReliabilityDocUpToDate).
type outageRow struct {
	id   string // the subtest's name
	name string // the situation, as the doc names it
	// valid: a valid token is cached, inside its refresh window (50s
	// left); otherwise none is.
	valid bool
	prior int           // failing calls made before, as other processes
	wait  time.Duration // waited after them
	force bool          // --force-refresh

	exit     int
	requests int // counted at the emulator
	// stderr is what the call prints there: outageWarning, outageError,
	// outageSameError or nothing.
	stderr string
	what   string // what happens, for the doc
}

const (
	outageWarning   = "the one warning"
	outageError     = "the error"
	outageSameError = "the earlier call's error, with when the next attempt is made"
)

func outageRows() []outageRow {
	full := 5 // every attempt of a call that fails: 1 + auth.DefaultRetries
	_, firstWait := bearer.BackoffSpan(1, 0)
	return []outageRow{
		{id: "valid-first", name: "a valid token cached, inside its refresh window: the first call", valid: true,
			exit: 0, requests: 1, stderr: outageWarning,
			what: fmt.Sprintf("one attempt within %s (not `--timeout`), then the cached token", faultDur(bearer.CoveredBudget))},
		{id: "valid-held", name: "… a later call, in any process, inside the back-off", valid: true, prior: 1,
			exit: 0, requests: 0,
			what: "the cached token at once (`--verbose` says why, once)"},
		{id: "valid-after", name: "… the first call after the back-off ends", valid: true, prior: 1, wait: firstWait + 200*time.Millisecond,
			exit: 0, requests: 1,
			what: "one attempt, then the cached token; the next wait doubles"},
		{id: "valid-forced", name: "… with `--force-refresh`, inside the back-off", valid: true, prior: 1, force: true,
			exit: 0, requests: full, stderr: outageWarning,
			what: "a full attempt, the back-off ignored, then the cached token"},
		{id: "none-first", name: "no valid token (expired, or none cached): the first call",
			exit: 1, requests: full, stderr: outageError,
			what: "a full attempt, retried within `--timeout`"},
		{id: "none-held", name: "… a later call, in any process, inside the back-off", prior: 1,
			exit: 1, requests: 0, stderr: outageSameError,
			what: "fails at once, no request"},
		{id: "none-forced", name: "… with `--force-refresh`, inside the back-off", prior: 1, force: true,
			exit: 1, requests: full, stderr: outageError,
			what: "a full attempt, the back-off ignored"},
	}
}

// TestOutageMatrix runs each outage row against the binary.
func TestOutageMatrix(t *testing.T) {
	for _, row := range outageRows() {
		t.Run(row.id, func(t *testing.T) {
			t.Parallel()
			f := newOutageFixture(t, "file")
			var cached string
			if row.valid {
				cached = f.seed(t, 50*time.Second)
			}
			f.srv.InjectAlways(authtest.ErrorFault(http.StatusServiceUnavailable, "temporarily_unavailable", "down"))
			var earlier result
			for range row.prior {
				earlier = runFor(t, runLimit, f.env, "", "token", "-o", "token")
			}
			time.Sleep(row.wait)
			before := f.srv.Requests()
			args := []string{"token", "-o", "token"}
			if row.force {
				args = append(args, "--force-refresh")
			}
			r := runFor(t, runLimit, f.env, "", args...)
			if n := f.srv.Requests() - before; r.code != row.exit || n != row.requests {
				t.Errorf("exit %d after %d token requests, want %d after %d (stderr %q)", r.code, n, row.exit, row.requests, r.stderr)
			}
			if row.exit == 0 && r.stdout != cached+"\n" {
				t.Errorf("stdout %q, want the cached token", r.stdout)
			}
			if row.exit != 0 && r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			outageCheckStderr(t, row, r.stderr, earlier.stderr)
		})
	}
}

// outageCheckStderr checks that stderr is what row says: one line of the
// right kind, or nothing.
func outageCheckStderr(t *testing.T, row outageRow, stderr, earlier string) {
	t.Helper()
	var ok bool
	switch row.stderr {
	case "":
		ok = stderr == ""
	case outageWarning:
		ok = strings.HasPrefix(stderr, prog+": warning: refresh failed (") && strings.Contains(stderr, "serving the cached token")
	case outageError:
		ok = strings.HasPrefix(stderr, prog+": token request to ") && strings.Contains(stderr, "after 5 attempts: HTTP 503") &&
			!strings.Contains(stderr, "not tried again")
	case outageSameError:
		ok = earlier != "" && strings.HasPrefix(stderr, strings.TrimSuffix(earlier, "\n")+" (at ") && strings.Contains(stderr, "; not tried again before ")
	}
	if !ok || (stderr != "" && strings.Count(stderr, "\n") != 1) {
		t.Errorf("stderr %q, want %s", stderr, cmp.Or(row.stderr, "nothing"))
	}
}

// outageDocBackoff is the prose of docs/reliability.md on the back-off,
// its numbers from package bearer.
func outageDocBackoff() string {
	lo1, hi1 := bearer.BackoffSpan(1, 0)
	loCap, hiCap := bearer.BackoffSpan(64, 0)
	return fmt.Sprintf("A refresh that fails for a transient reason records, beside the cached entry,\n"+
		"when the next attempt may be made: the file `<key>.backoff` next to the entry\n"+
		"in the file cache, a key of that name in the kernel keyring or the Secret\n"+
		"Service, private like the entry. Every process of the user reads it, so a\n"+
		"crowd of calls during an outage (kubectl calling once a second from many\n"+
		"shells) costs the service one attempt per step, not five per call. Until\n"+
		"then a call with a valid cached token prints it at once, and a call without\n"+
		"one fails at once with the recorded error (exit 1).\n\n"+
		"The wait after the first failure is %s to %s; it doubles with each failure\n"+
		"in a row, half of it fixed and half random, up to %s to %s. A `429` or `503`\n"+
		"with `Retry-After` sets its floor (at most %s). It never outlasts a cached\n"+
		"token that is still valid: once that has expired, the next call makes a full\n"+
		"attempt. A record written by a clock more than %s ahead, or asking for a\n"+
		"wait longer than %s, is ignored, as is one of another account.\n\n"+
		"A refresh while a valid token is cached makes a single attempt within %s,\n"+
		"not the whole `--timeout`: the caller has a token to go on with. A call that\n"+
		"finds another process refreshing waits at most that long for it, then\n"+
		"prints the cached token. Only a caller with no valid token waits the full\n"+
		"`--timeout`. `--force-refresh` ignores the back-off and makes a full attempt.\n"+
		"A success removes the record, and so do `login` and `logout`.\n\n"+
		outageDocHung(),
		faultDur(lo1), faultDur(hi1), faultDur(loCap), faultDur(hiCap), faultDur(bearer.BackoffCap),
		faultDur(bearer.MaxClockStep), faultDur(bearer.BackoffCap), faultDur(bearer.CoveredBudget))
}

// outageDocHung is the prose of docs/reliability.md on a crowd waiting for
// the process that refreshes: what a hung endpoint costs
// (TestOutageHungEndpointCrowd) and a stopped one (TestOutageStoppedLockHolder).
func outageDocHung() string {
	return fmt.Sprintf("Without a valid token, a call that finds another process refreshing (holding\n"+
		"the key's lock file) waits for it up to its own `--timeout`: that process\n"+
		"touches the lock file every second while it refreshes, and it fails or\n"+
		"succeeds for everyone. Its token is printed, or its failure at once, exit 1.\n"+
		"So an endpoint that accepts connections and never answers costs the service\n"+
		"the attempts of one call (one every %s within its `--timeout`), however many\n"+
		"processes ask meanwhile, not one more per process; a call whose own deadline\n"+
		"comes first says `no token within the deadline: another caller was still\n"+
		"refreshing it`. A process that holds the lock but is stopped (Ctrl-Z on the\n"+
		"git that runs it) stops touching it: the others go on without the lock after\n"+
		"%s, or a few seconds after its last touch if that is later. One that dies\n"+
		"releases the lock at once.\n",
		faultDur(auth.DefaultAttemptTimeout), faultDur(keyring.DefaultLockWait))
}

// outageDocTable renders the outage rows as the doc's table.
func outageDocTable(rows []outageRow) string {
	var b strings.Builder
	b.WriteString("| The token endpoint failing (503), and | Token requests | Exit | What happens | stderr |\n")
	b.WriteString("| --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %s |\n", r.name, r.requests, r.exit, r.what, cmp.Or(r.stderr, "nothing"))
	}
	b.WriteString("\nEach row runs the built binary against the emulator, its token requests counted there (`TestOutageMatrix`, " +
		"`cmd/dt-credential-helper/outage_test.go`). `TestOutageProcessesBackOffTogether` runs 32 processes calling once a second " +
		"while the endpoint fails and the cached token is inside its refresh window: every call prints the cached token, the " +
		"endpoint sees at most one request per step of the back-off, and stderr holds the first failure's warning and nothing else. " +
		fmt.Sprintf("`TestOutageHungEndpointCrowd` runs 16 processes at once with no valid token while the endpoint hangs: "+
			"the endpoint sees the attempts of one call (%d within a %s `--timeout`; with the default %s, %d), and every call exits 1. "+
			"`TestOutageStoppedLockHolder` stops the refreshing process (SIGSTOP) before, while and after the others wait: they are "+
			"served a token well before their `--timeout`.\n",
			hungAttempts(hangTimeout), faultDur(hangTimeout), faultDur(auth.DefaultTimeout), hungAttempts(auth.DefaultTimeout)))
	return b.String()
}
