//go:build linux

package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
)

// TestLoginPromptsWithoutEcho: on a terminal, login asks for the secret at a
// prompt and turns echo off while it is typed. A real pseudo-terminal, whose
// line discipline echoes what is typed unless told not to, the real binary
// and the real keyring (scripts/keyring-session.sh): only the kernel shows
// whether the secret comes back on the screen. The DT identity service
// cannot run here: the emulator (auth/authtest) checks the secret.
func TestLoginPromptsWithoutEcho(t *testing.T) {
	needKeyringSession(t)
	f := newLoginFixture(t)
	master, slave := openPTY(t)
	out := drainPTY(t, master)
	// Before drainPTY's cleanup: with no slave left open, reading the master
	// ends (EIO) once login is gone.
	t.Cleanup(func() { slave.Close() })
	// A positive control: a fresh terminal echoes, so a login that did not
	// turn echo off would show the secret below.
	if off, err := echoOff(slave); err != nil || off {
		t.Fatalf("a fresh pty does not echo (off %v, %v): the test would prove nothing", off, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, f.loginArgs(f.profile)...)
	cmd.Env = f.env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	// The pty becomes login's controlling terminal, as in a shell.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	const prompt = "Service account secret: "
	if !waitFor(10*time.Second, func() bool { return strings.Contains(out.String(), prompt) }) {
		t.Fatalf("no prompt %q on the terminal, which shows %q", prompt, out.String())
	}
	// The prompt is printed just before echo goes off; a user typing in
	// between would see the secret whatever login does, so type after.
	if !waitFor(10*time.Second, func() bool { off, _ := echoOff(slave); return off }) {
		t.Fatal("echo is still on 10s after the prompt")
	}
	if _, err := master.Write([]byte(testSecret + "\n")); err != nil {
		t.Fatal(err)
	}

	err := cmd.Wait()
	var ee *exec.ExitError
	code := 0
	switch {
	case ctx.Err() != nil:
		t.Fatalf("login did not finish within %v; the terminal shows %q", runLimit, strings.ReplaceAll(out.String(), testSecret, "<secret>"))
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	// The last line login writes; the terminal may still be passing it on.
	waitFor(5*time.Second, func() bool { return strings.Contains(out.String(), "stored") })
	screen := out.String()
	if strings.Contains(screen, testSecret) {
		t.Fatal("the secret was echoed on the terminal")
	}
	if code != 0 || !strings.Contains(screen, f.profile) || !strings.Contains(screen, "stored") {
		t.Fatalf("login: exit %d, terminal %q; want exit 0 and the profile stored", code, screen)
	}
	if off, err := echoOff(slave); err != nil || off {
		t.Errorf("login left the terminal without echo (off %v, %v)", off, err)
	}
	checkNoLeak(t, result{code: code, stdout: screen})

	f.wantRequests(t, 1, "login at the prompt")
	if got, ok := secretToolLookup(t, profile.SecretKey(f.profile)); !ok || got != testSecret {
		t.Errorf("the keyring does not hold the typed secret after login (found: %v)", ok)
	}
	if _, ok := f.profiles(t).Profiles[f.profile]; !ok {
		t.Errorf("profile %s is not configured after login", f.profile)
	}
}

// echoOff reports whether the terminal tty has echo turned off.
func echoOff(tty *os.File) (bool, error) {
	tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		return false, err
	}
	return tio.Lflag&unix.ECHO == 0, nil
}
