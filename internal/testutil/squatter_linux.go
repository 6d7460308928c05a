package testutil

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Nobody is the uid (and gid) another user's process runs as in tests.
const Nobody = 65534

// squatterScript listens as argv[1] says ("tcp HOST", where HOST "::"
// takes IPv4 too, or "unix PATH"), prints its port (or "ready"), then
// prints "got N" for every N bytes anyone sends it. It never answers.
const squatterScript = `
import socket, sys
kind, where = sys.argv[1], sys.argv[2]
if kind == "unix":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(where)
else:
    fam = socket.AF_INET6 if ":" in where else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind((where, 0))
s.listen(16)
print(s.getsockname()[1] if kind != "unix" else "ready", flush=True)
while True:
    c, _ = s.accept()
    while True:
        d = c.recv(65536)
        if not d:
            break
        print("got", len(d), flush=True)
    c.close()
`

// Squatter is a listener run as uid Nobody: another user's process on the
// port or socket a Vault agent would use. It records what it receives.
type Squatter struct {
	// Port is the TCP port it listens on; empty for a unix socket.
	Port string

	cmd     *exec.Cmd
	lines   *bufio.Scanner
	stopped bool
	got     []string
}

// StartSquatter runs a listener as uid Nobody, skipping tb when that is not
// possible (not root, no python3 another user may run). network is "tcp"
// (address a host such as "127.0.0.1", "::1" or "::") or "unix" (address a
// socket path, in a directory Nobody may write). It is stopped when tb ends.
func StartSquatter(tb testing.TB, network, address string) *Squatter {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("running a listener as another user needs root")
	}
	// Not through PATH: a python3 under root's home is not one another
	// user may run.
	python := ""
	for _, p := range []string{"/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o001 != 0 {
			python = p
			break
		}
	}
	if python == "" {
		tb.Skip("no python3 that another user may run, to listen as one")
	}
	cmd := exec.Command(python, "-c", squatterScript, network, address)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody}}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	s := &Squatter{cmd: cmd, lines: bufio.NewScanner(out)}
	if !s.lines.Scan() {
		cmd.Process.Kill()
		cmd.Wait()
		tb.Fatalf("the listener run as uid %d did not start", Nobody)
	}
	if network == "tcp" {
		s.Port = strings.TrimSpace(s.lines.Text())
	}
	tb.Cleanup(func() { s.Stop() })
	return s
}

// Stop stops the listener (once) and returns what it received: one
// "got N" line per read, none when nothing reached it.
func (s *Squatter) Stop() []string {
	if s.stopped {
		return s.got
	}
	s.stopped = true
	time.Sleep(200 * time.Millisecond) // bytes in flight
	s.cmd.Process.Kill()
	for s.lines.Scan() {
		s.got = append(s.got, s.lines.Text())
	}
	s.cmd.Wait()
	return s.got
}
