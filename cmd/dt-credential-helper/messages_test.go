package main

import (
	"cmp"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
)

// Messages that lead (issue 19, item 5): what each says when something is
// missing or wrong, and that it points somewhere that helps.

// TestLoginSecretFromEnvironment: with stdin not a terminal, login takes
// the secret from stdin, and when stdin holds none (empty, or a blank
// line: a CI job's stdin), from DT_SERVICE_ACCOUNT_SECRET, where DT's own
// example keeps it. Data on stdin wins: it was given to this command. The
// emulator stands in for DT's identity service and checks which secret was
// used.
func TestLoginSecretFromEnvironment(t *testing.T) {
	srv := authtest.NewServer(testAccount)
	defer srv.Close()
	args := []string{"login", "--profile", "ci", "--key-id", testAccount.KeyID, "--email", testAccount.Email,
		"--token-endpoint", srv.TokenURL(), "--store", "file"}
	tests := []struct {
		name   string
		env    string // DT_SERVICE_ACCOUNT_SECRET
		stdin  string
		code   int
		stderr []string
	}{
		{name: "environment, empty stdin", env: testSecret, stdin: "", code: exitOK, stderr: []string{`profile "ci" stored`}},
		{name: "environment, blank line on stdin", env: testSecret, stdin: "\n", code: exitOK, stderr: []string{`profile "ci" stored`}},
		{name: "stdin wins", env: "wrong-secret", stdin: testSecret + "\n", code: exitOK, stderr: []string{`profile "ci" stored`}},
		{name: "environment refused as stdin is", env: " " + testSecret, stdin: "", code: exitUsage, stderr: []string{"whitespace"}},
		{name: "neither", env: "", stdin: "", code: exitUsage, stderr: []string{"no secret", "stdin", "DT_SERVICE_ACCOUNT_SECRET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			environ := withEnv(wiredEnv(t), "DT_SERVICE_ACCOUNT_SECRET="+tt.env)
			r := runWired(t, environ, tt.stdin, args...)
			if r.code != tt.code || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, no stdout", r.code, r.stdout, r.stderr, tt.code)
			}
			oneStderrLine(t, r.stderr, tt.stderr...)
			checkNoLeak(t, r)
		})
	}
	if n := srv.Requests(); n != 3 {
		t.Errorf("%d token requests, want 3 (one check per login that got a secret)", n)
	}
	help := runWired(t, wiredEnv(t), "", "login", "--help")
	if !strings.Contains(help.stdout, "DT_SERVICE_ACCOUNT_SECRET") {
		t.Errorf("login --help does not say it reads DT_SERVICE_ACCOUNT_SECRET:\n%s", help.stdout)
	}
}

// TestLoginSecretFlagNotCircular: login --secret says where login itself
// takes the secret from, not "store it with login".
func TestLoginSecretFlagNotCircular(t *testing.T) {
	r := runWired(t, wiredEnv(t), "", "login", "--profile", "p", "--secret", "x")
	if r.code != exitUsage {
		t.Errorf("exit %d, want %d", r.code, exitUsage)
	}
	oneStderrLine(t, r.stderr, "never", "command line", "stdin", "prompt", "DT_SERVICE_ACCOUNT_SECRET")
	if strings.Contains(r.stderr, "store it with") || strings.Contains(r.stderr, prog+" login") {
		t.Errorf("login --secret sends the user to login: %q", r.stderr)
	}
}

// TestTimeoutNamed: a token endpoint that accepts and never answers ends in
// an error that names --timeout and its value, the one thing the user can
// change about it, from every command that waits for a token. The
// emulator stands in for DT's identity service, made to hold each request.
func TestTimeoutNamed(t *testing.T) {
	srv := authtest.NewServer(testAccount)
	defer srv.Close()
	srv.InjectAlways(authtest.Fault{Delay: time.Minute})
	env := baseEnv(t, srv.TokenURL())
	gitGet := "protocol=https\nhost=api.d21s.com\n\n"
	tests := []struct {
		name  string
		stdin string
		args  []string
	}{
		{name: "token", args: []string{"token", "--timeout", "1s", "--cache", "none"}},
		{name: "exec", args: []string{"exec", "--timeout", "1s", "--cache", "none", "--", "true"}},
		{name: "git", stdin: gitGet, args: []string{"git", "--timeout", "1s", "--cache", "none", "get"}},
		{name: "login", stdin: testSecret, args: []string{"login", "--timeout", "1s", "--profile", "slow", "--key-id", testAccount.KeyID,
			"--email", testAccount.Email, "--token-endpoint", srv.TokenURL(), "--store", "file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runInProcess(t, env, tt.stdin, tt.args...)
			if r.code != exitFailure || r.stdout != "" {
				t.Errorf("exit %d, stdout %q; want %d and nothing", r.code, r.stdout, exitFailure)
			}
			oneStderrLine(t, r.stderr, "--timeout 1s")
		})
	}
}

// TestUnknownFlagOrCommandLeads: an unknown command or flag gets, instead
// of Go's bare "flag provided but not defined", the name it most likely
// meant and where the list is (--help). The docker helper reports on
// stdout with exit 1, as its protocol wants.
func TestUnknownFlagOrCommandLeads(t *testing.T) {
	t.Parallel()
	env := baseEnv(t, "http://127.0.0.1:1/oauth2/token") // never reached
	tests := []struct {
		name   string
		helper string // argv[0], "" for the program's own name
		args   []string
		want   []string
		not    []string
	}{
		{name: "command typo", args: []string{"tokn"}, want: []string{`unknown command "tokn"`, `did you mean "token"`, prog + " --help"}},
		{name: "command unlike any", args: []string{"frobnicate"}, want: []string{`unknown command "frobnicate"`, prog + " --help"}, not: []string{"did you mean"}},
		{name: "flag typo", args: []string{"token", "--profle", "p"}, want: []string{"unknown flag --profle", "did you mean --profile", prog + " token --help"}},
		{name: "flag typo, no command", args: []string{"--force-refreshh"}, want: []string{"unknown flag --force-refreshh", "did you mean --force-refresh", prog + " token --help"}},
		{name: "flag swapped letters", args: []string{"login", "--profile", "p", "--emial", "e"}, want: []string{"unknown flag --emial", "did you mean --email", prog + " login --help"}},
		{name: "single dash", args: []string{"status", "-verbos"}, want: []string{"unknown flag -verbos", "did you mean --verbose", prog + " status --help"}},
		{name: "flag unlike any", args: []string{"git", "--colour", "get"}, want: []string{"unknown flag --colour", prog + " git --help"}, not: []string{"did you mean"}},
		{name: "secret never suggested", args: []string{"token", "--secrets", "x"}, want: []string{"unknown flag --secrets"}, not: []string{"did you mean"}},
		{name: "git helper", helper: gitHelperName, args: []string{"--verbos", "get"}, want: []string{"unknown flag --verbos", "did you mean --verbose", prog + " git --help"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runInProcessAs(t, cmp.Or(tt.helper, prog), env, "", tt.args...)
			if r.code != exitUsage || r.stdout != "" {
				t.Errorf("exit %d, stdout %q; want %d and nothing", r.code, r.stdout, exitUsage)
			}
			oneStderrLine(t, r.stderr, tt.want...)
			for _, n := range append(tt.not, "not defined") {
				if strings.Contains(r.stderr, n) {
					t.Errorf("stderr %q says %q", r.stderr, n)
				}
			}
		})
	}
	t.Run("docker helper", func(t *testing.T) {
		t.Parallel()
		r := runInProcessAs(t, dockerHelperName, env, "", "--verbos", "get")
		want := "docker: unknown flag --verbos; did you mean --verbose? Run '" + prog + " docker --help' for its flags\n"
		if r.code != exitFailure || r.stdout != want || r.stderr != "" {
			t.Errorf("exit %d, stdout %q, stderr %q; want 1, stdout %q", r.code, r.stdout, r.stderr, want)
		}
	})
}

// TestHelperWithoutAction: git and docker with no action (or more than
// one) exit 1 alike, naming the actions and --help. docker's protocol
// wants exit 1 with the message on stdout for every error; git's gives a
// helper's exit status no meaning beyond "failed" (git then discards its
// answer), so 1 suits both, and a script calling either helper sees one
// code for a call it made wrong.
func TestHelperWithoutAction(t *testing.T) {
	t.Parallel()
	env := baseEnv(t, "http://127.0.0.1:1/oauth2/token") // never reached
	tests := []struct {
		name   string
		argv0  string
		args   []string
		stdout bool // the message is on stdout (docker), else stderr
		want   []string
	}{
		{name: "git", argv0: prog, args: []string{"git"}, want: []string{"get, store or erase", prog + " git --help"}},
		{name: "git two actions", argv0: prog, args: []string{"git", "get", "store"}, want: []string{"get, store or erase", "got 2"}},
		{name: gitHelperName, argv0: gitHelperName, want: []string{"get, store or erase", prog + " git --help"}},
		{name: "docker", argv0: prog, args: []string{"docker"}, stdout: true, want: []string{"get, store, erase, list or version", prog + " docker --help"}},
		{name: dockerHelperName, argv0: dockerHelperName, stdout: true, want: []string{"get, store, erase, list or version", prog + " docker --help"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runInProcessAs(t, tt.argv0, env, "", tt.args...)
			msg, other := r.stderr, r.stdout
			if tt.stdout {
				msg, other = r.stdout, r.stderr
			}
			if r.code != exitFailure || other != "" || strings.Count(msg, "\n") != 1 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and one line", r.code, r.stdout, r.stderr, exitFailure)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q does not say %q", msg, w)
				}
			}
		})
	}
}
