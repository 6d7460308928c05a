//go:build linux

package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

// sigCountScript appends a line to $DT_TEST_SIGLOG for every SIGINT trap it
// runs, creates $DT_TEST_READY once its traps are set, and waits (at most 10 s)
// until a SIGTERM ends it with status 0. It waits in the wait builtin, which a
// trapped signal interrupts at once, so each SIGINT is logged promptly. The
// shell merges SIGINTs that arrive before the trap runs, so the test sends
// one at a time and waits for it to be logged. The background sleep ignores
// SIGINT, as a non-interactive shell's background jobs do, so Ctrl-C leaves it
// running.
const sigCountScript = `trap 'echo INT >>"$DT_TEST_SIGLOG"' INT
sleep 10 </dev/null >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; exit 0' TERM
: >"$DT_TEST_READY"
while kill -0 $pid 2>/dev/null; do wait $pid; done`

// TestExecSIGINTReachesCommandOnce: exec's command gets every SIGINT meant
// for it exactly once, whether Ctrl-C is typed in the terminal it runs in
// (the kernel signals the whole foreground process group), or a SIGINT is
// sent to its pid, in a terminal's foreground or with no terminal at all.
// The helper became the command, so there is no second process to swallow
// or repeat a signal.
//
// Real signals, a real pseudo-terminal and the real binary: only the kernel's
// line discipline shows whether the command gets Ctrl-C once.
func TestExecSIGINTReachesCommandOnce(t *testing.T) {
	// The script's trap needs SIGINT not ignored on entry, whatever this
	// test runs under (a background job of a non-interactive shell ignores
	// it).
	testutil.DefaultSignalsForChildren(t, syscall.SIGINT)
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env := baseEnv(t, idp.TokenURL())

	// inTerminal starts the command with a pty as its controlling terminal,
	// its process group the terminal's foreground group.
	inTerminal := func(t *testing.T) (*os.File, *exec.Cmd, string, func() string) {
		master, slave := openPTY(t)
		out := drainPTY(t, master)
		cmd, log := startSigCounter(t, env, func(c *exec.Cmd) {
			c.Stdin, c.Stdout, c.Stderr = slave, slave, slave
			c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		}, out.String)
		// The parent's copy of the slave would keep the terminal open after
		// the command exits.
		slave.Close()
		return master, cmd, log, out.String
	}

	t.Run("terminal foreground, Ctrl-C", func(t *testing.T) {
		master, cmd, log, output := inTerminal(t)
		expectOneSIGINTEach(t, cmd, log, output, func(int) error {
			// Ctrl-C, as a user types it: the line discipline (ISIG is on by
			// default) signals the foreground group.
			_, err := master.Write([]byte{0x03})
			return err
		})
	})

	t.Run("terminal foreground, kill -INT", func(t *testing.T) {
		_, cmd, log, output := inTerminal(t)
		// The old helper, a parent forwarding signals, dropped this one: it
		// took any SIGINT in a terminal's foreground for Ctrl-C, which the
		// command would get from the terminal anyway.
		expectOneSIGINTEach(t, cmd, log, output, func(int) error {
			return cmd.Process.Signal(syscall.SIGINT)
		})
	})

	t.Run("no terminal, kill -INT", func(t *testing.T) {
		out := new(testutil.Buffer)
		cmd, log := startSigCounter(t, env, func(c *exec.Cmd) {
			c.Stdout, c.Stderr = out, out
			// A session of its own: no controlling terminal at all, whatever
			// the test runs in.
			c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		}, out.String)
		expectOneSIGINTEach(t, cmd, log, out.String, func(int) error {
			return cmd.Process.Signal(syscall.SIGINT)
		})
	})
}

// openPTY allocates a pseudo-terminal and returns its master and slave, both
// closed at cleanup.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("getting the pty number: %v", err)
	}
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening the pty slave: %v", err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// drainPTY reads master until the terminal is gone (EIO once no slave is open)
// or master is closed, so writes to the slave never block.
func drainPTY(t *testing.T, master *os.File) *testutil.Buffer {
	t.Helper()
	out := new(testutil.Buffer)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(out, master)
	}()
	t.Cleanup(func() {
		master.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("reading the pty master did not stop")
		}
	})
	return out
}

// startSigCounter starts `dt-credential-helper exec -- sh -c sigCountScript`,
// set up by setup, and waits until the script's traps are set. It returns the
// helper and the path of the script's SIGINT log; output is what the helper
// printed so far, for failure messages. Cleanup kills the helper's
// process group (its session, so the command and its sleep too).
func startSigCounter(t *testing.T, env []string, setup func(*exec.Cmd), output func() string) (*exec.Cmd, string) {
	t.Helper()
	dir := t.TempDir()
	log, ready := filepath.Join(dir, "sigint.log"), filepath.Join(dir, "ready")
	cmd := exec.Command(binary, "exec", "--", "sh", "-c", sigCountScript)
	cmd.Env = withEnv(env, "DT_TEST_SIGLOG="+log, "DT_TEST_READY="+ready)
	setup(cmd)
	cmd.WaitDelay = 2 * time.Second
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
	if !waitFor(20*time.Second, func() bool { _, err := os.Stat(ready); return err == nil }) {
		t.Fatalf("the command did not get ready; %s", describe(output))
	}
	return cmd, log
}

// sigintRounds is how many times expectOneSIGINTEach interrupts the command.
const sigintRounds = 3

// expectOneSIGINTEach interrupts the command sigintRounds times with
// interrupt(i), each time waiting for the command to log the SIGINT and giving
// a duplicate time to arrive, and checks each interrupt reached it exactly
// once. Then it stops the command with a SIGTERM.
func expectOneSIGINTEach(t *testing.T, cmd *exec.Cmd, log string, output func() string, interrupt func(i int) error) {
	t.Helper()
	count := func() int { return sigintCount(log) }
	for i := 1; i <= sigintRounds; i++ {
		if err := interrupt(i); err != nil {
			t.Fatalf("interrupt %d: %v", i, err)
		}
		if !waitFor(10*time.Second, func() bool { return count() >= i }) {
			t.Fatalf("interrupt %d never reached the command (it saw %d); %s", i, count(), describe(output))
		}
		time.Sleep(200 * time.Millisecond) // room for a second copy
		if n := count(); n != i {
			t.Fatalf("after interrupt %d the command had seen SIGINT %d times, want exactly once per interrupt; %s", i, n, describe(output))
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("the helper is gone after SIGINT: %v; %s", err, describe(output))
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("wait: %v", err)
		}
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit %d, want 0 from the command's TERM trap; %s", code, describe(output))
		}
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Fatalf("the helper did not exit within 10s of SIGTERM; %s", describe(output))
	}
	if n := count(); n != sigintRounds {
		t.Errorf("the command saw SIGINT %d times for %d interrupts, want exactly once each", n, sigintRounds)
	}
}

// sigintCount is how many SIGINTs sigCountScript has logged to log.
func sigintCount(log string) int {
	b, _ := os.ReadFile(log)
	return strings.Count(string(b), "INT\n")
}

// describe is the helper's output so far, for failure messages.
func describe(output func() string) string {
	return "output " + strconv.Quote(output())
}
