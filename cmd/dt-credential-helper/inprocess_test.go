package main

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
)

// The in-process harness: run(ctx, env) with the environment, stdin and
// argv a test gives, in this process, where runBinary would start the built
// binary. Flag, format, exit-code and stderr cases use it, in parallel: a
// process start costs more than the case. Whatever needs a process of its
// own stays on runBinary and runFor: git, docker and kubectl as clients,
// the pty, crashes and signals, the plugin, exec's process replacement, the
// keyring, and the leak sweep.

// runInProcess is runBinary in this process: same arguments, same result,
// and it too fails t if any output shows the secret or a JWT.
func runInProcess(t *testing.T, environ []string, stdin string, args ...string) result {
	t.Helper()
	return runInProcessAs(t, prog, environ, stdin, args...)
}

// runInProcessAs is runInProcess under another program name (argv[0]), as
// runPath runs a helper link such as docker-credential-dt.
func runInProcessAs(t *testing.T, argv0 string, environ []string, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), inProcessEnv(t, environ, strings.NewReader(stdin), &stdout, &stderr, append([]string{argv0}, args...)))
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	checkNoLeak(t, r)
	return r
}

// inProcessEnv is the env a process started with environ and argv would
// have. getenv answers as os.Getenv does for a process given environ: the
// first of duplicate entries wins, as in syscall's copy of the environment.
// execve refuses: a case that would replace the process belongs in a
// process-level test, so one that gets here fails.
func inProcessEnv(t *testing.T, environ []string, stdin *strings.Reader, stdout, stderr *bytes.Buffer, argv []string) env {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if _, seen := vars[k]; ok && !seen {
			vars[k] = v
		}
	}
	environ = slices.Clone(environ)
	return env{
		args:    argv,
		stdin:   stdin,
		stdout:  stdout,
		stderr:  stderr,
		getenv:  func(k string) string { return vars[k] },
		environ: func() []string { return slices.Clone(environ) },
		execve: func(path string, _, _ []string) error {
			t.Errorf("in-process run of %q tried to exec %s: use a process-level test", argv, path)
			return errors.New("no exec in an in-process test")
		},
	}
}

// TestInProcessReadsOnlyItsEnv checks the harness is whole: a command run
// in-process reads the environment it was given, not this process's. The
// account, endpoint and cache directory exist only in that environment, so
// a token printed and cached where it says shows they were read from it.
func TestInProcessReadsOnlyItsEnv(t *testing.T) {
	t.Parallel()
	if os.Getenv(auth.EnvSecret) != "" {
		t.Skipf("%s is set in the test's own environment: the check would not tell the two apart", auth.EnvSecret)
	}
	srv := authtest.NewServer(testAccount)
	t.Cleanup(srv.Close)
	environ := baseEnv(t, srv.TokenURL())
	r := runInProcess(t, environ, "", "token", "-o", "token")
	if r.code != 0 || !srv.Valid(strings.TrimSpace(r.stdout)) {
		t.Fatalf("exit %d, stdout %d bytes, stderr %q; want a valid token", r.code, len(r.stdout), r.stderr)
	}
	entries, err := os.ReadDir(envValue(environ, "DT_CACHE_DIR"))
	if err != nil || len(entries) == 0 {
		t.Errorf("nothing cached in the given DT_CACHE_DIR (%v)", err)
	}
}
