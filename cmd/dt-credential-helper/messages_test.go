package main

import (
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
