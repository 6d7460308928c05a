package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/doctor"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
)

// The doctor tests run doctor against real parts (the kernel keyring, the
// Secret Service, another user's bus, planted directories, a real OpenBao,
// git, docker's configuration, kubectl) and read its -o json report; the
// text form is the same report (internal/doctor's tests). The DT identity
// service cannot run here: the emulator (auth/authtest) stands in for it,
// its clock skewed where a test says so.

// doctorReport parses r's stdout as doctor's JSON report, failing t unless
// the exit status agrees with it (1 when a check failed, else 0) and every
// check's id is one of doctorCheckIDs.
func doctorReport(t *testing.T, r result) doctor.Report {
	t.Helper()
	var rep doctor.Report
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("doctor -o json: exit %d, stdout %q, stderr %q: %v", r.code, r.stdout, r.stderr, err)
	}
	if want := map[bool]int{true: 0, false: 1}[rep.OK]; r.code != want {
		t.Errorf("doctor exits %d with ok %v, want %d\n%s", r.code, rep.OK, want, r.stdout)
	}
	for _, c := range rep.Checks {
		if !slices.Contains(doctorCheckIDs(), c.ID) {
			t.Errorf("check id %q is not in doctorCheckIDs", c.ID)
		}
		if (c.Status == doctor.Fail || c.Status == doctor.Warn) && c.Fix == "" {
			t.Errorf("%s %s is %s without a fix: %s", c.ID, c.Subject, c.Status, c.Detail)
		}
	}
	return rep
}

// doctorCheck returns the report's check id of subject, failing t when
// there is not exactly one.
func doctorCheck(t *testing.T, rep doctor.Report, id, subject string) doctor.Check {
	t.Helper()
	var found []doctor.Check
	for _, c := range rep.Checks {
		if c.ID == id && c.Subject == subject {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d checks %s %q in the report, want 1:\n%+v", len(found), id, subject, rep.Checks)
	}
	return found[0]
}

// wantCheck fails t unless the report's check id of subject has status and
// its detail (and fix) hold each of contains.
func wantCheck(t *testing.T, rep doctor.Report, id, subject string, status doctor.Status, contains ...string) doctor.Check {
	t.Helper()
	c := doctorCheck(t, rep, id, subject)
	if c.Status != status {
		t.Errorf("%s %s: %s (%s; fix %q), want %s", id, subject, c.Status, c.Detail, c.Fix, status)
	}
	for _, s := range contains {
		if !strings.Contains(c.Detail+" fix: "+c.Fix, s) {
			t.Errorf("%s %s: %q (fix %q) does not say %q", id, subject, c.Detail, c.Fix, s)
		}
	}
	return c
}

// TestDoctorClock: the clock check reads the token endpoint's Date header,
// which the emulator writes from its clock: a clock within seconds passes,
// one off by 30s warns, one off by 5 minutes either way fails, and a
// report with a failure exits 1.
func TestDoctorClock(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		skew   time.Duration // the server's clock minus ours
		status doctor.Status
		says   string
	}{
		{"in step", 0, doctor.Pass, "within 1s"},
		{"30s behind the server", 30 * time.Second, doctor.Warn, "30s behind"},
		{"5m ahead of the server", -5 * time.Minute, doctor.Fail, "5m0s ahead of"},
		{"5m behind the server", 5 * time.Minute, doctor.Fail, "5m0s behind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := authtest.NewServer(testAccount)
			t.Cleanup(srv.Close)
			srv.SetClock(func() time.Time { return time.Now().Add(tc.skew) })
			r := runInProcess(t, baseEnv(t, srv.TokenURL()), "", "doctor", "-o", "json")
			rep := doctorReport(t, r)
			c := wantCheck(t, rep, "clock", srv.TokenURL(), tc.status, tc.says)
			if tc.status != doctor.Pass && !strings.Contains(c.Fix, "time synchronisation") {
				t.Errorf("the fix does not say to synchronise the clock: %q", c.Fix)
			}
		})
	}
}

// TestDoctorFetch: one real token fetch per account, described and never
// shown; a rejected secret fails with the fix for it; --offline skips the
// fetch (and the clock), asking the endpoint nothing.
func TestDoctorFetch(t *testing.T) {
	t.Parallel()
	srv := authtest.NewServer(testAccount)
	t.Cleanup(srv.Close)
	env := baseEnv(t, srv.TokenURL())

	rep := doctorReport(t, runInProcess(t, env, "", "doctor", "-o", "json"))
	wantCheck(t, rep, "secret", "(environment)", doctor.Pass, testAccount.KeyID, "DT_SERVICE_ACCOUNT_SECRET", "not shown")
	wantCheck(t, rep, "token", "(environment)", doctor.Pass, "valid for", srv.TokenURL())
	if n := len(srv.Tokens()); n != 1 {
		t.Errorf("%d tokens issued, want the one fetch's", n)
	}

	bad := withEnv(env, "DT_SERVICE_ACCOUNT_SECRET=wrong-"+testSecret)
	rep = doctorReport(t, runInProcess(t, bad, "", "doctor", "-o", "json"))
	wantCheck(t, rep, "token", "(environment)", doctor.Fail, "invalid_grant", "key id, email and secret")

	srv.ResetRequests()
	rep = doctorReport(t, runInProcess(t, env, "", "doctor", "--offline", "-o", "json"))
	for _, id := range []string{"clock", "vault", "token"} {
		wantCheck(t, rep, id, "", doctor.Skip, "--offline")
	}
	if n := srv.Requests(); n != 0 || !rep.Offline {
		t.Errorf("--offline: %d token requests, offline %v; want none", n, rep.Offline)
	}
}

// TestDoctorProfileSecret: a profile whose secret file is there passes,
// and is never read out; once it is gone, the secret check fails with the
// login that stores it again, and the fetch is skipped rather than failed
// twice; an environment without an account is warned about.
func TestDoctorProfileSecret(t *testing.T) {
	t.Parallel()
	srv, env := doctorProfileEnv(t, "prod")

	rep := doctorReport(t, runInProcess(t, env, "", "doctor", "-o", "json"))
	wantCheck(t, rep, "profiles", "", doctor.Pass, "1 profile (prod)")
	wantCheck(t, rep, "secret", "prod", doctor.Pass, "its private file", "not read out")
	wantCheck(t, rep, "token", "prod", doctor.Pass, "valid for")

	path, err := profile.DefaultPath(func(k string) string { return envValue(env, k) })
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(profile.SecretsDir(path), profile.SecretKey("prod"))); err != nil {
		t.Fatal(err)
	}
	rep = doctorReport(t, runInProcess(t, env, "", "doctor", "-o", "json"))
	wantCheck(t, rep, "secret", "prod", doctor.Fail, "no secret", "login --profile prod --key-id "+testAccount.KeyID, "--store file")
	wantCheck(t, rep, "token", "prod", doctor.Skip, "not in place")

	empty := withoutAccount(baseEnv(t, srv.TokenURL()))
	rep = doctorReport(t, runInProcess(t, empty, "", "doctor", "--offline", "-o", "json"))
	wantCheck(t, rep, "account", "", doctor.Warn, "no account", "login")
}

// doctorProfileEnv is an emulator and an environment that names no
// account but has profile name stored, its secret in a private file.
func doctorProfileEnv(t *testing.T, name string) (*authtest.Server, []string) {
	t.Helper()
	srv := authtest.NewServer(testAccount)
	t.Cleanup(srv.Close)
	env := baseEnv(t, srv.TokenURL())
	loginFileProfile(t, env, srv.TokenURL(), name)
	return srv, withoutAccount(env)
}

// TestDoctorDefaultProfile: DT_PROFILE naming a profile
// that is not stored fails doctor, as it fails every call that names no
// profile; naming a stored one passes.
func TestDoctorDefaultProfile(t *testing.T) {
	t.Parallel()
	_, env := doctorProfileEnv(t, "prod")

	rep := doctorReport(t, runInProcess(t, withEnv(env, "DT_PROFILE=typo"), "", "doctor", "--offline", "-o", "json"))
	wantCheck(t, rep, "account", "typo", doctor.Fail, "DT_PROFILE names the profile \"typo\", which is not stored", "status")
	if r := runInProcess(t, withEnv(env, "DT_PROFILE=typo"), "", "token"); r.code != exitUsage {
		t.Errorf("token with DT_PROFILE=typo: exit %d, want %d: the check must agree with the call", r.code, exitUsage)
	}
	rep = doctorReport(t, runInProcess(t, withEnv(env, "DT_PROFILE=prod"), "", "doctor", "--offline", "-o", "json"))
	if !rep.OK {
		t.Errorf("DT_PROFILE naming a stored profile: %+v", rep.Checks)
	}
}

// TestDoctorCommandLine: doctor's own flags and exit codes, and its text
// form: one line per check, a fix under each failure, a summary.
func TestDoctorCommandLine(t *testing.T) {
	t.Parallel()
	srv := authtest.NewServer(testAccount)
	t.Cleanup(srv.Close)
	env := baseEnv(t, srv.TokenURL())
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"doctor", "-o", "yaml"}, "text or json"},
		{[]string{"doctor", "--timeout", "0s"}, "--timeout"},
		{[]string{"doctor", "extra"}, "unexpected argument"},
		{[]string{"doctor", "--cache", "cloud"}, "cloud"},
	} {
		r := runInProcess(t, env, "", tc.args...)
		if r.code != exitUsage || r.stdout != "" || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 saying %q", tc.args, r.code, r.stdout, r.stderr, tc.says)
		}
	}

	srv.SetClock(func() time.Time { return time.Now().Add(-5 * time.Minute) })
	r := runInProcess(t, env, "", "doctor")
	if r.code != exitFailure {
		t.Errorf("a failed check: exit %d, want 1", r.code)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	clock := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "[FAIL] clock "+srv.TokenURL()+": ") })
	if clock < 0 || clock+1 >= len(lines) || !strings.HasPrefix(lines[clock+1], "       fix: ") {
		t.Errorf("the text form has no [FAIL] clock line with its fix below:\n%s", r.stdout)
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, " checks: ") || !strings.Contains(last, " failed, ") {
		t.Errorf("the last line is not the summary: %q", last)
	}
	for _, l := range lines {
		if l != "" && !strings.HasPrefix(l, "[") && !strings.HasPrefix(l, "       fix: ") && !strings.Contains(l, " checks: ") {
			t.Errorf("a line that is neither a check, a fix nor the summary: %q", l)
		}
	}
	if r.stderr != "" {
		t.Errorf("stderr %q, want nothing: the report is the output", r.stderr)
	}
}

// TestDoctorDocumented: docs/doctor.md has a row for every check id, and
// names each of the JSON report's fields.
func TestDoctorDocumented(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../docs/doctor.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, id := range doctorCheckIDs() {
		if !strings.Contains(doc, "| `"+id+"` |") {
			t.Errorf("docs/doctor.md has no row for the check %q", id)
		}
	}
	js, err := json.Marshal(doctor.Report{Checks: []doctor.Check{{Subject: "x", Fix: "y"}}})
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	json.Unmarshal(js, &fields)
	names := []string{}
	for k, v := range fields {
		names = append(names, k)
		switch v := v.(type) {
		case map[string]any:
			for k := range v {
				names = append(names, k)
			}
		case []any:
			for k := range v[0].(map[string]any) {
				names = append(names, k)
			}
		}
	}
	for _, n := range names {
		if !strings.Contains(doc, fmt.Sprintf("`%s`", n)) {
			t.Errorf("docs/doctor.md does not name the JSON field %q", n)
		}
	}
}
