package keyringtest

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// StartDaemon starts cmd (a daemon, or a test binary run as a helper
// process), killed and waited for when the test ends, and returns its
// standard output.
func StartDaemon(t testing.TB, cmd *exec.Cmd) io.Reader {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return out
}

// firstLine is the first line a daemon prints on out (dbus-daemon's
// address), without surrounding space: "" when out ends first, and ok
// false when none came within 10s.
func firstLine(out io.Reader) (line string, ok bool) {
	lines := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		lines <- strings.TrimSpace(s)
	}()
	select {
	case s := <-lines:
		return s, true
	case <-time.After(10 * time.Second):
		return "", false
	}
}
