//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
	"github.com/dt-credential-helper/dt-credential-helper/plugin"
)

// These tests run the plugin process for real and look at what it leaves in
// the file system and the process table: its socket, and itself once its
// host is gone.

// socketOf returns the unix socket path in a go-plugin handshake line.
func socketOf(t *testing.T, line string) string {
	t.Helper()
	f := strings.Split(line, "|")
	if !handshakeLine.MatchString(line) || f[2] != "unix" {
		t.Fatalf("handshake %q does not name a unix socket", line)
	}
	return f[3]
}

// entries lists what dir holds, for messages.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// TestPluginSocketPrivate: whatever the umask, no other user can connect to
// the plugin's socket: it is private itself, or in a directory only its owner
// can enter.
func TestPluginSocketPrivate(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	tmp := sharedTmp(t)
	env := withEnv(pluginEnv(t, idp.TokenURL()), "TMPDIR="+tmp)
	// The shell sets the umask and becomes the plugin.
	p := startPluginCmd(t, exec.Command("sh", "-c", `umask 000; exec "$0" "$@"`, binary, "plugin"), env)
	sock := socketOf(t, p.handshake(t))

	fi, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("%s is %v, not a socket", sock, fi.Mode())
	}
	dir := filepath.Dir(sock)
	di, err := os.Lstat(dir)
	if err != nil {
		t.Fatal(err)
	}
	sockPrivate := fi.Mode().Perm()&0o077 == 0
	dirPrivate := di.IsDir() && di.Mode().Perm()&0o077 == 0 && di.Sys().(*syscall.Stat_t).Uid == uint32(os.Geteuid())
	t.Logf("socket %s mode %v, in %s mode %v", sock, fi.Mode(), dir, di.Mode())
	if !sockPrivate && !dirPrivate {
		t.Errorf("under umask 000 the socket %s has mode %v in %s of mode %v: other users can connect", sock, fi.Mode().Perm(), dir, di.Mode().Perm())
	}
}

// TestPluginSocketRemovedOnSIGTERM: a plugin told to stop (kill, systemd,
// a shutting-down session) removes its socket, and the directory it made for
// it, before it dies of the signal.
func TestPluginSocketRemovedOnSIGTERM(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	tmp := sharedTmp(t)
	p := startPluginProc(t, withEnv(pluginEnv(t, idp.TokenURL()), "TMPDIR="+tmp), "plugin")
	sock := socketOf(t, p.handshake(t))
	if _, err := os.Lstat(sock); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the plugin did not exit within 10s of SIGTERM")
	}
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("the plugin ended with %v, want killed by SIGTERM", p.cmd.ProcessState)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket %s is still there after SIGTERM (%v)", sock, err)
	}
	if left := entries(t, tmp); len(left) != 0 {
		t.Errorf("TMPDIR still holds %q after SIGTERM", left)
	}
}

// TestPluginExitsWithItsHost: a host killed with SIGKILL cannot stop its
// plugin; the plugin notices it lost its host and exits within a few
// seconds, removing its socket, instead of living on as an orphan that keeps
// refreshing tokens for a watch nobody reads.
func TestPluginExitsWithItsHost(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	// Short-lived tokens: the plugin refreshes every few seconds for the
	// host's WatchToken.
	idp.SetTokenTTL(4 * time.Second)
	tmp := sharedTmp(t)
	host := exec.Command(os.Args[0])
	host.Env = withEnv(pluginEnv(t, idp.TokenURL()), envTestHost+"="+binary, "TMPDIR="+tmp)
	stderr := &testutil.Buffer{}
	host.Stderr = stderr
	stdout, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = host.Process.Kill()
		_ = host.Wait()
		if t.Failed() {
			t.Logf("host stderr:\n%s", stderr)
		}
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
	}()
	var pid int
	select {
	case s := <-line:
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(s, "plugin ")))
		if err != nil || n <= 0 {
			t.Fatalf("the host printed %q, want plugin PID", s)
		}
		pid = n
	case <-time.After(30 * time.Second):
		t.Fatal("the host did not get a first token within 30s")
	}
	// Whatever happens, no orphan outlives the test.
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if !waitFor(20*time.Second, func() bool { return idp.Requests() >= 2 }) {
		t.Fatalf("the plugin did not refresh the watched token (%d requests)", idp.Requests())
	}

	if err := host.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = host.Wait()
	killed := time.Now()
	if !waitFor(10*time.Second, func() bool { return processGone(pid) }) {
		t.Fatalf("the plugin (pid %d) still runs 10s after its host was killed", pid)
	}
	t.Logf("the plugin was gone %v after its host was killed", time.Since(killed).Round(time.Millisecond))
	if left := entries(t, tmp); len(left) != 0 {
		t.Errorf("TMPDIR still holds %q after the plugin exited", left)
	}
}

// processGone reports whether pid has exited: no such process, or a zombie
// waiting for whoever adopted it to reap it.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

// TestPluginStopRemovesSocket: a host that stops its plugin the usual way
// leaves nothing behind either.
func TestPluginStopRemovesSocket(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	tmp := sharedTmp(t)
	p, stop, err := plugin.Launch(plugin.LaunchConfig{
		Path:         binary,
		Env:          withEnv(pluginEnv(t, idp.TokenURL()), "TMPDIR="+tmp),
		Logger:       hclog.NewNullLogger(),
		StartTimeout: 20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := p.GetToken(ctx, "", false); err != nil {
		stop()
		t.Fatal(err)
	}
	if len(entries(t, tmp)) != 1 {
		t.Errorf("TMPDIR holds %q while the plugin runs, want its socket directory", entries(t, tmp))
	}
	pid := p.(interface{ Pid() int }).Pid()
	stop()
	if !waitFor(10*time.Second, func() bool { return processGone(pid) }) {
		t.Fatalf("the plugin (pid %d) still runs 10s after the host stopped it", pid)
	}
	if left := entries(t, tmp); len(left) != 0 {
		t.Errorf("TMPDIR still holds %q after the host stopped the plugin", left)
	}
}
