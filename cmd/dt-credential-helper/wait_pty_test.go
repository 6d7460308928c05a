//go:build linux

package main

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
)

// TestWaitingSaidAtTerminal: at a terminal, a token request that has had no
// answer for a couple of seconds says what it is waiting for, so that an
// endpoint that accepts and never answers is not --timeout of silence; the
// error at the end names --timeout. Not at a terminal (git, kubectl and
// scripts read stderr as a log), and not for an endpoint that answers, is
// anything said. A real pseudo-terminal and the real binary: whether stderr
// is a terminal is the kernel's answer. The emulator stands in for DT's
// identity service, made to hold the request.
func TestWaitingSaidAtTerminal(t *testing.T) {
	slow := authtest.NewServer(testAccount)
	defer slow.Close()
	slow.InjectAlways(authtest.Fault{Delay: time.Minute})
	fast := authtest.NewServer(testAccount)
	defer fast.Close()
	args := []string{"token", "-o", "token", "--cache", "none", "--timeout", "8s"}

	// start runs the binary against the endpoint at url, with stderr on a
	// fresh terminal when terminal is set, else on a pipe; stdout is a pipe
	// either way. It returns what stderr shows so far and a wait for the end.
	start := func(t *testing.T, url string, terminal bool) (*exec.Cmd, func() string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), runLimit)
		t.Cleanup(cancel)
		cmd := exec.CommandContext(ctx, binary, args...)
		cmd.Env = baseEnv(t, url)
		cmd.Stdout = new(strings.Builder)
		cmd.WaitDelay = time.Second
		var stderr func() string
		if terminal {
			master, slave := openPTY(t)
			out := drainPTY(t, master)
			cmd.Stderr = slave
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 2}
			t.Cleanup(func() { slave.Close() })
			stderr = out.String
		} else {
			var b strings.Builder
			cmd.Stderr = &b
			stderr = b.String
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, stderr
	}
	host := strings.TrimPrefix(strings.Split(slow.TokenURL(), "/oauth2")[0], "http://")

	t.Run("terminal, no answer", func(t *testing.T) {
		cmd, stderr := start(t, slow.TokenURL(), true)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		said := waitFor(6*time.Second, func() bool { return strings.Contains(stderr(), "waiting") })
		select {
		case <-done:
			t.Fatalf("the helper ended before anything said what it waits for; the terminal shows %q", stderr())
		default:
		}
		if !said {
			t.Fatalf("6s into a request with no answer, the terminal shows %q; want a line saying what is waited for", stderr())
		}
		if s := stderr(); !strings.Contains(s, host) || !strings.Contains(s, "--timeout") {
			t.Errorf("the waiting line %q does not name the endpoint %s and --timeout", s, host)
		}
		<-done
		if code := cmd.ProcessState.ExitCode(); code != exitFailure {
			t.Errorf("exit %d, want %d", code, exitFailure)
		}
		waitFor(5*time.Second, func() bool { return strings.Count(stderr(), "\n") >= 2 })
		if s := stderr(); strings.Count(s, "waiting") != 1 || !strings.Contains(s, "--timeout 8s") {
			t.Errorf("the terminal shows %q; want one waiting line, then the error naming --timeout 8s", s)
		}
	})
	t.Run("pipe, no answer", func(t *testing.T) {
		cmd, stderr := start(t, slow.TokenURL(), false)
		cmd.Wait()
		if s := stderr(); strings.Contains(s, "waiting") || strings.Count(s, "\n") != 1 {
			t.Errorf("stderr, a pipe, shows %q; want the error line alone", s)
		}
	})
	t.Run("terminal, an answer", func(t *testing.T) {
		cmd, stderr := start(t, fast.TokenURL(), true)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%v; the terminal shows %q", err, stderr())
		}
		// Had a timer been left armed, it would fire within its delay
		// had the process lived on; it does not live on, so what the
		// terminal shows is all there will be.
		if s := stderr(); s != "" {
			t.Errorf("a token served at once, and the terminal shows %q", s)
		}
	})
}
