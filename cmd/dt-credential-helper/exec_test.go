//go:build unix

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

// The exec tests run `dt-credential-helper exec -- CMD` as a process; the DT
// identity service cannot run here, so the emulator (auth/authtest) issues the
// tokens.

func TestExecEnvironment(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env := baseEnv(t, idp.TokenURL())

	r := runBinary(t, env, "", "exec", "--", "sh", "-c", `printf "%s %s" "$DT_ACCESS_TOKEN" "$DT_ACCESS_TOKEN_EXPIRES_AT"`)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	tok, expires, ok := strings.Cut(r.stdout, " ")
	if !ok || !idp.Valid(tok) {
		t.Fatalf("DT_ACCESS_TOKEN is not a valid token (stdout has %d fields)", len(strings.Fields(r.stdout)))
	}
	exp, err := time.Parse(time.RFC3339, expires)
	if err != nil || !strings.HasSuffix(expires, "Z") {
		t.Errorf("DT_ACCESS_TOKEN_EXPIRES_AT %q is not RFC 3339 UTC: %v", expires, err)
	}
	if left := time.Until(exp); left < 50*time.Minute || left > time.Hour {
		t.Errorf("DT_ACCESS_TOKEN_EXPIRES_AT is %s away, want about an hour", left.Round(time.Second))
	}

	// Flags go before "--"; a second run is served from the cache.
	r = runBinary(t, env, "", "exec", "--timeout", "10s", "--", "sh", "-c", `printf %s "$DT_ACCESS_TOKEN"`)
	if r.code != 0 || r.stdout != tok {
		t.Errorf("second exec: exit %d, same token %v, stderr %q", r.code, r.stdout == tok, r.stderr)
	}
	if n := idp.Requests(); n != 1 {
		t.Errorf("%d token requests for two execs, want 1", n)
	}
}

// TestExecReplacesStaleToken: a DT_ACCESS_TOKEN already in the environment
// (exec run inside exec, an hour later) is replaced, not shadowed: execve
// passes duplicate variables on as they are, and the C library's getenv
// returns the first.
func TestExecReplacesStaleToken(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env := withEnv(baseEnv(t, idp.TokenURL()), "DT_ACCESS_TOKEN=stale", "DT_ACCESS_TOKEN_EXPIRES_AT=2000-01-01T00:00:00Z")
	// env -0 prints the environment as the command got it, duplicates
	// included; sh would show only one of them.
	r := runBinary(t, env, "", "exec", "--", "env", "-0")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var tokens, expiries []string
	for _, kv := range strings.Split(r.stdout, "\x00") {
		if v, ok := strings.CutPrefix(kv, "DT_ACCESS_TOKEN="); ok {
			tokens = append(tokens, v)
		}
		if v, ok := strings.CutPrefix(kv, "DT_ACCESS_TOKEN_EXPIRES_AT="); ok {
			expiries = append(expiries, v)
		}
	}
	if len(tokens) != 1 || !idp.Valid(tokens[0]) || len(expiries) != 1 || expiries[0] == "2000-01-01T00:00:00Z" {
		t.Errorf("the command got %d DT_ACCESS_TOKEN (first valid: %v) and expiries %q; want one fresh token and its expiry",
			len(tokens), len(tokens) > 0 && idp.Valid(tokens[0]), expiries)
	}
}

// TestExecChildHasNoSecret: the command is handed a token, not the service
// account secret that mints them; the rest of the environment is its own.
func TestExecChildHasNoSecret(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env := withEnv(baseEnv(t, idp.TokenURL()), "DT_TEST_KEEP=kept value")
	if envValue(env, "DT_SERVICE_ACCOUNT_SECRET") != testSecret {
		t.Fatal("the test environment lacks DT_SERVICE_ACCOUNT_SECRET: nothing to check")
	}
	// runBinary also fails the test if the secret shows on stdout, where
	// env prints the child's whole environment.
	r := runBinary(t, env, "", "exec", "--", "env")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	got := map[string]string{}
	for line := range strings.Lines(r.stdout) {
		if k, v, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "="); ok {
			got[k] = v
		}
	}
	if _, ok := got["DT_SERVICE_ACCOUNT_SECRET"]; ok {
		t.Error("the command's environment has DT_SERVICE_ACCOUNT_SECRET")
	}
	if !idp.Valid(got["DT_ACCESS_TOKEN"]) || got["DT_ACCESS_TOKEN_EXPIRES_AT"] == "" {
		t.Errorf("the command lacks a valid DT_ACCESS_TOKEN and its expiry (expiry %q)", got["DT_ACCESS_TOKEN_EXPIRES_AT"])
	}
	for _, k := range []string{"DT_TEST_KEEP", "DT_SERVICE_ACCOUNT_KEY_ID", "DT_SERVICE_ACCOUNT_EMAIL", "DT_TOKEN_ENDPOINT", "HOME", "PATH", "DT_CACHE_DIR"} {
		if want := envValue(env, k); got[k] != want {
			t.Errorf("the command's %s = %q, want %q as exec got it", k, got[k], want)
		}
	}
	if r := runBinary(t, env, "", "exec", "--help"); !strings.Contains(r.stdout, "DT_SERVICE_ACCOUNT_SECRET") {
		t.Errorf("exec --help does not say the command is not given DT_SERVICE_ACCOUNT_SECRET:\n%s", r.stdout)
	}
}

func TestExecStatusAndStdin(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env := baseEnv(t, idp.TokenURL())
	tests := []struct {
		name   string
		stdin  string
		argv   []string
		code   int
		stdout string
	}{
		{name: "exit 0", argv: []string{"sh", "-c", "exit 0"}},
		{name: "exit 3", argv: []string{"sh", "-c", "exit 3"}, code: 3},
		{name: "stdin passed through", stdin: "line one\nline two\n", argv: []string{"cat"}, stdout: "line one\nline two\n"},
		{name: "arguments kept apart", argv: []string{"printf", "[%s]", "a b", "", "--", "-c"}, stdout: "[a b][][--][-c]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runBinary(t, env, tt.stdin, append([]string{"exec", "--"}, tt.argv...)...)
			if r.code != tt.code || r.stdout != tt.stdout || r.stderr != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout %q, no stderr", r.code, r.stdout, r.stderr, tt.code, tt.stdout)
			}
		})
	}
}

// TestExecKilledBySignal: a command killed by a signal leaves the helper's
// process killed by that signal, which a shell reports as 128+N: the helper
// became the command, so its end is the command's.
func TestExecKilledBySignal(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env := baseEnv(t, idp.TokenURL())
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(binary, "exec", "--", "sh", "-c", "kill -"+strconv.Itoa(int(sig))+" $$")
			cmd.Env = env
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			_ = cmd.Run()
			ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if !ok || !ws.Signaled() || ws.Signal() != sig {
				t.Errorf("the helper ended with %v, want killed by %v; stderr %q", cmd.ProcessState, sig, stderr.String())
			}
			sh := exec.Command("sh", "-c", `"$0" exec -- sh -c 'kill -`+strconv.Itoa(int(sig))+` $$'; echo $?`, binary)
			sh.Env = env
			out, _ := sh.Output()
			if got, want := strings.TrimSpace(string(out)), strconv.Itoa(128+int(sig)); got != want {
				t.Errorf("a shell reports exit status %s, want %s", got, want)
			}
		})
	}
}

func TestExecUsage(t *testing.T) {
	t.Parallel()
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env := baseEnv(t, idp.TokenURL())
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"no --", []string{"exec", "sh", "-c", "true"}, 2},
		{"nothing", []string{"exec"}, 2},
		{"no command after --", []string{"exec", "--"}, 2},
		{"flags but no command", []string{"exec", "--timeout", "5s", "--"}, 2},
		{"unknown flag", []string{"exec", "--nope", "--", "true"}, 2},
		{"argument before --", []string{"exec", "stray", "--", "true"}, 2},
		{"command not found", []string{"exec", "--", "dt-no-such-command-x"}, 127},
	}
	// A group, so the parallel cases finish before the checks below and
	// the cleanup.
	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				r := runInProcess(t, env, "", tt.args...)
				if r.code != tt.code || r.stdout != "" {
					t.Errorf("exit %d, stdout %q; want exit %d, no stdout", r.code, r.stdout, tt.code)
				}
				if strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, prog+": exec") {
					t.Errorf("stderr is not one %q line: %q", prog+": exec...", r.stderr)
				}
			})
		}
	})
	// None of these needed a token, so none was fetched.
	if n := idp.Requests(); n != 0 {
		t.Errorf("%d token requests for commands that never ran, want 0", n)
	}
}

// startExec starts `dt-credential-helper exec -- argv...` in a process group
// of its own, which cleanup kills whole, so nothing outlives a failed test.
// With ready set it waits for the command's first line to be "ready", proof
// that the command runs (and, in the signal tests, has set its traps).
func startExec(t *testing.T, env []string, ready bool, argv ...string) (cmd *exec.Cmd, stderr *bytes.Buffer) {
	t.Helper()
	cmd = exec.Command(binary, append([]string{"exec", "--"}, argv...)...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A grandchild left running keeps the pipes open; don't wait for it.
	cmd.WaitDelay = 2 * time.Second
	stderr = new(bytes.Buffer)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		if cmd.ProcessState == nil {
			_ = cmd.Wait()
		}
	})
	if !ready {
		return cmd, stderr
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if s != "ready\n" {
			t.Fatalf("the command printed %q, want ready; stderr %q", s, stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the command did not start; stderr %q", stderr)
	}
	return cmd, stderr
}

// waitExit waits up to d for cmd to exit and returns its status.
func waitExit(t *testing.T, cmd *exec.Cmd, d time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("wait: %v", err)
		}
		return cmd.ProcessState.ExitCode()
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("the helper did not exit within %s", d)
		return -1
	}
}

// TestExecSignalsReachCommand: a signal sent to the helper's pid reaches the
// command, which is that process now.
func TestExecSignalsReachCommand(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env := baseEnv(t, idp.TokenURL())
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			// The command's trap needs sig not ignored on entry, whatever
			// this test runs under (nohup ignores SIGHUP).
			testutil.DefaultSignalsForChildren(t, sig)
			// The trap exits 42 (and stops the background sleep, so nothing
			// outlives the test); only a signal that reached the command can
			// trigger it.
			script := fmt.Sprintf(`trap 'kill $!; exit 42' %s; echo ready; sleep 30 </dev/null >/dev/null 2>&1 & wait`, shellName(sig))
			cmd, stderr := startExec(t, env, true, "sh", "-c", script)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := waitExit(t, cmd, 10*time.Second); code != 42 {
				t.Errorf("exit %d after %v, want 42 from the command's trap; stderr %q", code, sig, stderr)
			}
		})
	}
}

// shellName is sig's name as the shell's trap takes it.
func shellName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "TERM"
	case syscall.SIGINT:
		return "INT"
	case syscall.SIGHUP:
		return "HUP"
	}
	return strconv.Itoa(int(sig))
}

// TestExecTokenNotOnCommandLine: the token goes to the command in its
// environment, readable only by the same user, never in argv, which
// /proc/PID/cmdline shows to everyone.
func TestExecTokenNotOnCommandLine(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("no /proc on this system")
	}
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env := baseEnv(t, idp.TokenURL())
	r := runBinary(t, env, "", "token", "-o", "token")
	tok := strings.TrimSpace(r.stdout)
	if r.code != 0 || !idp.Valid(tok) {
		t.Fatalf("token: exit %d, stderr %q", r.code, r.stderr)
	}

	// exec serves the cached token fetched above, then becomes sleep, whose
	// cmdline is exactly what exec passed it.
	cmd, _ := startExec(t, env, false, "sleep", "30")
	pid := cmd.Process.Pid
	cmdline := filepath.Join("/proc", strconv.Itoa(pid), "cmdline")
	var b []byte
	if !waitFor(10*time.Second, func() bool {
		b, _ = os.ReadFile(cmdline)
		return bytes.HasPrefix(b, []byte("sleep\x00"))
	}) {
		t.Fatalf("pid %d did not become sleep: cmdline %q", pid, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
	}
	if string(b) != "sleep\x0030\x00" {
		t.Errorf("pid %d: cmdline %q, want sleep 30", pid, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
	}
	// The check above means something only if the command has the token.
	environ, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(environ, []byte("\x00DT_ACCESS_TOKEN="+tok+"\x00")) {
		t.Errorf("the command's environment lacks DT_ACCESS_TOKEN with the cached token")
	}
	if n := idp.Requests(); n != 1 {
		t.Errorf("%d token requests, want 1 (exec served the cached token)", n)
	}
	// Nor does the command inherit a file the helper had open (a lock, a
	// keyring connection): everything beyond stdin, stdout and stderr was
	// close-on-exec. Descriptors this test process itself passes on to
	// every child don't count.
	inheritable := inheritableFDs(t)
	fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		n, _ := strconv.Atoi(fd.Name())
		target, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", fd.Name()))
		if n > 2 && inheritable[n] != target {
			t.Errorf("the command inherited fd %d (%s) from the helper", n, target)
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM) // sleep dies of it
	_ = waitExit(t, cmd, 10*time.Second)
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("%v after SIGTERM to sleep, want killed by SIGTERM", cmd.ProcessState)
	}
}

// inheritableFDs maps the descriptors of this process that any child
// inherits (those without close-on-exec) to what they refer to.
func inheritableFDs(t *testing.T) map[int]string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]string{}
	for _, fd := range fds {
		info, err := os.ReadFile(filepath.Join("/proc/self/fdinfo", fd.Name()))
		if err != nil {
			continue // the descriptor ReadDir itself used
		}
		for line := range strings.Lines(string(info)) {
			flags, ok := strings.CutPrefix(line, "flags:")
			if !ok {
				continue
			}
			if f, err := strconv.ParseUint(strings.TrimSpace(flags), 8, 64); err == nil && f&syscall.O_CLOEXEC == 0 {
				n, _ := strconv.Atoi(fd.Name())
				out[n], _ = os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
			}
		}
	}
	return out
}

// TestExecInProcess runs exec in-process, as the env harness allows: the
// environment comes from env.environ and PATH from env.getenv, and the exec
// itself is a fake that records what would have replaced the process.
func TestExecInProcess(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	bin := t.TempDir()
	tool := filepath.Join(bin, "dt-test-tool")
	if err := os.WriteFile(tool, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	environ := withEnv(baseEnv(t, idp.TokenURL()),
		"PATH="+bin,
		pluginCookieKey+"=dt-token-provider",
		"DT_TEST_KEEP=kept")
	vars := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	var gotPath string
	var gotArgv, gotEnv []string
	var stderr bytes.Buffer
	code := run(t.Context(), env{
		args:    []string{prog, "exec", "--", "dt-test-tool", "a b"},
		stdin:   strings.NewReader(""),
		stdout:  io.Discard,
		stderr:  &stderr,
		getenv:  func(k string) string { return vars[k] },
		environ: func() []string { return environ },
		execve: func(path string, argv, envv []string) error {
			gotPath, gotArgv, gotEnv = path, argv, envv
			return syscall.ENOEXEC
		},
	})
	if gotPath != tool || !slices.Equal(gotArgv, []string{"dt-test-tool", "a b"}) {
		t.Errorf("exec'd %q %q, want %q [dt-test-tool, a b]", gotPath, gotArgv, tool)
	}
	got := map[string]string{}
	for _, kv := range gotEnv {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	for _, k := range []string{"DT_SERVICE_ACCOUNT_SECRET", pluginCookieKey} {
		if _, ok := got[k]; ok {
			t.Errorf("the command's environment has %s", k)
		}
	}
	if got["DT_TEST_KEEP"] != "kept" || got["PATH"] != bin || !idp.Valid(got["DT_ACCESS_TOKEN"]) {
		t.Errorf("the command's environment lacks the caller's variables or a valid DT_ACCESS_TOKEN")
	}
	// An exec that fails is the helper's failure, reported on one line.
	if code != exitFailure || !strings.HasPrefix(stderr.String(), prog+": exec: dt-test-tool: ") || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("failed exec: exit %d, stderr %q; want 1 and one line", code, stderr.String())
	}
	checkNoLeak(t, result{stderr: stderr.String()})
}
