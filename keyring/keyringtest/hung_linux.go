package keyringtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/godbus/dbus/v5"
)

// HungService owns org.freedesktop.secrets on a private D-Bus daemon and never
// answers: its methods block until the test ends. It is a fake because a real
// Secret Service cannot be made to hang on demand; the daemon is real.
type HungService struct {
	// Addr is the private bus's address, for DBUS_SESSION_BUS_ADDRESS.
	Addr    string
	calls   atomic.Int32
	release chan struct{}
}

// Calls is how many Secret Service calls reached the service.
func (h *HungService) Calls() int { return int(h.calls.Load()) }

// SearchItems blocks until the test ends.
func (h *HungService) SearchItems(map[string]string) ([]dbus.ObjectPath, []dbus.ObjectPath, *dbus.Error) {
	h.calls.Add(1)
	<-h.release
	return nil, nil, nil
}

// OpenSession blocks until the test ends.
func (h *HungService) OpenSession(string, dbus.Variant) (dbus.Variant, dbus.ObjectPath, *dbus.Error) {
	h.calls.Add(1)
	<-h.release
	return dbus.MakeVariant(""), "/", nil
}

// StartHungService starts a private dbus-daemon with a HungService on it; it
// skips the test when dbus-daemon is not installed.
func StartHungService(t testing.TB) *HungService {
	t.Helper()
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		t.Skip("dbus-daemon not installed (scripts/keyring-session.sh installs it)")
	}
	dir, err := os.MkdirTemp("", "bus") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "bus.conf")
	// No service directories: nothing can be activated behind our back.
	err = os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=`+dir+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy>
</busconfig>`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // after the daemon is gone
	daemon := exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--print-address=1")
	// Dies with the test binary, even one killed by -timeout.
	daemon.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	addr, _ := firstLine(StartDaemon(t, daemon))
	if addr == "" {
		t.Fatal("dbus-daemon printed no address")
	}
	h := &HungService{Addr: addr, release: make(chan struct{})}
	conn, err := dbus.Connect(h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(h.release)
		conn.Close()
	})
	if err := conn.Export(h, "/org/freedesktop/secrets", "org.freedesktop.Secret.Service"); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName("org.freedesktop.secrets", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("claiming org.freedesktop.secrets: %v (reply %v)", err, reply)
	}
	return h
}
