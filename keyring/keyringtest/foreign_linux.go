package keyringtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// Nobody is the uid (and gid) the other user's processes run as.
const Nobody = 65534

// ForeignBus is a session bus that another user runs, with that user's own
// gnome-keyring on it, unlocked: what someone else can put behind a stale
// DBUS_SESSION_BUS_ADDRESS once the bus it named has exited. dbus-daemon,
// gnome-keyring-daemon and secret-tool are the real programs, run as uid
// [Nobody]; the bus lets every user connect, as the squatter's would.
type ForeignBus struct {
	// PathAddr is a unix:path= address in a directory under /tmp that the
	// other user owns; TmpAddr a unix:path= address directly in /tmp, as
	// dbus-run-session gives; AbstractAddr a unix:abstract= address, as
	// dbus-launch gives.
	PathAddr, TmpAddr, AbstractAddr string

	dir string // the other user's: the bus socket, HOME, XDG_RUNTIME_DIR
}

// StartForeignBus starts the other user's bus and keyring, stopped when the
// test ends. It skips the test unless it runs as root (which making another
// user's processes takes), and unless the programs are installed, which
// under scripts/keyring-session.sh they must be.
func StartForeignBus(t testing.TB) *ForeignBus {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running a bus as another user needs root")
	}
	for _, prog := range []string{"dbus-daemon", "gnome-keyring-daemon", "secret-tool"} {
		if _, err := exec.LookPath(prog); err != nil {
			if os.Getenv("DT_TEST_SECRET_SERVICE") == "1" {
				t.Fatalf("%s not installed in a Secret Service session", prog)
			}
			t.Skipf("%s not installed (scripts/keyring-session.sh installs it)", prog)
		}
	}
	top, err := os.MkdirTemp("", "foreign-bus") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	b := &ForeignBus{dir: filepath.Join(top, "n")}
	suffix := make([]byte, 6)
	rand.Read(suffix)
	tmpSocket := filepath.Join(os.TempDir(), "dt-foreign-bus-"+hex.EncodeToString(suffix))
	t.Cleanup(func() {
		os.RemoveAll(top)
		os.Remove(tmpSocket)
	})
	for _, d := range []string{b.dir, filepath.Join(b.dir, "home"), filepath.Join(b.dir, "run")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, Nobody, Nobody); err != nil {
			t.Fatal(err)
		}
	}
	// The other user's directory and the one above it are open to look
	// into, as a directory in /tmp of someone who wants to be found is.
	for _, d := range []string{top, b.dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b.PathAddr = "unix:path=" + filepath.Join(b.dir, "bus")
	b.TmpAddr = "unix:path=" + tmpSocket
	b.AbstractAddr = "unix:abstract=" + b.dir + "-abstract"
	conf := filepath.Join(top, "bus.conf")
	err = os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>`+b.PathAddr+`</listen>
  <listen>`+b.TmpAddr+`</listen>
  <listen>`+b.AbstractAddr+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/>
  </policy>
</busconfig>`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	b.start(t, b.command(exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--print-address=1")), "")
	// --unlock reads the new login keyring's password from stdin; with
	// --foreground the daemon stays this test's child.
	b.start(t, b.command(exec.Command("gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets")), "foreign-test-keyring")
	b.waitUnlocked(t)
	return b
}

// command sets cmd up to run as the other user, in its environment, dying
// with the test binary.
func (b *ForeignBus) command(cmd *exec.Cmd) *exec.Cmd {
	cmd.Dir = b.dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(b.dir, "home"),
		"XDG_DATA_HOME=" + filepath.Join(b.dir, "home"),
		"XDG_RUNTIME_DIR=" + filepath.Join(b.dir, "run"),
		"DBUS_SESSION_BUS_ADDRESS=" + b.PathAddr,
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody},
		Pdeathsig:  syscall.SIGKILL,
	}
	return cmd
}

// start starts a daemon with stdin on its standard input and waits for the
// first line of its output when it prints one (dbus-daemon's address).
func (b *ForeignBus) start(t testing.TB, cmd *exec.Cmd, stdin string) {
	t.Helper()
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out := StartDaemon(t, cmd)
	if stdin != "" {
		go io.Copy(io.Discard, out)
		return
	}
	switch line, ok := firstLine(out); {
	case !ok:
		t.Fatalf("%s printed nothing within 10s", cmd.Path)
	case line == "":
		t.Fatalf("%s printed nothing: %s", cmd.Path, stderr.String())
	}
}

// waitUnlocked waits (10s at most) until the other user's Secret Service
// answers for its login collection, unlocked.
func (b *ForeignBus) waitUnlocked(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := b.loginUnlocked()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other user's keyring is not ready within 10s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// loginUnlocked asks the other user's service, as its user would, whether
// its login collection is there and unlocked.
func (b *ForeignBus) loginUnlocked() error {
	cmd := b.command(exec.Command("dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.secrets",
		"/org/freedesktop/secrets/collection/login", "org.freedesktop.DBus.Properties.Get",
		"string:org.freedesktop.Secret.Collection", "string:Locked"))
	cmd.SysProcAttr.Pdeathsig = 0
	out, err := cmd.CombinedOutput()
	if err != nil {
		return errors.New(strings.TrimSpace(string(out)))
	}
	if !strings.Contains(string(out), "boolean false") {
		return errors.New("the login collection is locked")
	}
	return nil
}

// SecretTool runs secret-tool as the other user, against its own keyring,
// with stdin, and returns its output and exit status; it fails the test if
// secret-tool cannot be run or takes over 10s.
func (b *ForeignBus) SecretTool(t testing.TB, stdin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := b.command(exec.CommandContext(ctx, "secret-tool", args...))
	cmd.SysProcAttr.Pdeathsig = 0
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("secret-tool %v as uid %d did not finish within 10s", args, Nobody)
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	case err != nil:
		t.Fatalf("secret-tool %v as uid %d: %v", args, Nobody, err)
	}
	return string(out), 0
}

// Items is how many items of the other user's keyring have the attributes
// given as name, value pairs.
func (b *ForeignBus) Items(t testing.TB, attrs ...string) int {
	t.Helper()
	out, _ := b.SecretTool(t, "", append([]string{"search", "--all"}, attrs...)...)
	n := 0
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, "[/") {
			n++
		}
	}
	return n
}

// Store puts value into the other user's keyring under the attributes given
// as name, value pairs, as that user would.
func (b *ForeignBus) Store(t testing.TB, value string, attrs ...string) {
	t.Helper()
	out, code := b.SecretTool(t, value, append([]string{"store", "--label=planted"}, attrs...)...)
	if code != 0 {
		t.Fatalf("secret-tool store as uid %d: exit %d: %s", Nobody, code, out)
	}
}

// WatchConnections counts, from now on, the connections to the other
// user's bus that get through authentication: the bus gives each a unique
// name, which a monitor sees being taken. The monitor is the test's own view
// of the bus, not under test. The count includes the test's own clients,
// such as [ForeignBus.SecretTool].
func (b *ForeignBus) WatchConnections(t testing.TB) (count func() int) {
	t.Helper()
	conn, err := dbus.Connect(b.PathAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rule := "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged'"
	if err := conn.BusObject().Call("org.freedesktop.DBus.Monitoring.BecomeMonitor", 0, []string{rule}, uint32(0)).Err; err != nil {
		t.Fatal(err)
	}
	msgs := make(chan *dbus.Message, 64)
	conn.Eavesdrop(msgs)
	var mu sync.Mutex
	n := 0
	go func() {
		for m := range msgs {
			// NameOwnerChanged(name, old, new) with a unique name
			// taken: a new connection.
			if len(m.Body) == 3 && m.Body[0] == m.Body[2] && m.Body[1] == "" {
				mu.Lock()
				n++
				mu.Unlock()
			}
		}
	}()
	// The monitor's own name was taken before it became one; a probe
	// connection shows the count works before the test relies on it.
	probe, err := dbus.Connect(b.PathAddr)
	if err != nil {
		t.Fatal(err)
	}
	probe.Close()
	get := func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
	deadline := time.Now().Add(5 * time.Second)
	for get() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the monitor saw no connection to the other user's bus")
		}
		time.Sleep(10 * time.Millisecond)
	}
	base := get()
	return func() int {
		// Signals arrive a moment after the connection that caused
		// them; nothing this counts is expected to be fast.
		time.Sleep(100 * time.Millisecond)
		return get() - base
	}
}
