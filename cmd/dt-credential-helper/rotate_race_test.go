package main

import (
	"bytes"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
)

// Process-level tests of rotate against login and logout of its profile,
// with the emulator (auth/authtest) standing in for DT: it holds one
// request of the rotation in flight while the other command runs.

// loginAgain runs login of the fixture's profile with its first key.
func (f *rotateFixture) loginAgain(t *testing.T) result {
	t.Helper()
	args := []string{"login", "--key-id", f.keyID, "--email", rotateEmail, "--token-endpoint", f.srv.TokenURL()}
	if f.where == profile.SecretInFile {
		args = append(args, "--store", "file")
	}
	r := runBinary(t, f.env, testSecret, args...)
	f.noSecretIn(t, r.stdout+r.stderr)
	return r
}

// oldKeyLeft runs a rotate whose delete of the old key answers 503: the
// profile is switched to a new key, the old one left at DT.
func (f *rotateFixture) oldKeyLeft(t *testing.T) {
	t.Helper()
	f.srv.InjectKeys(authtest.OpDeleteKey, authtest.ErrorFault(503, "unavailable", "try later"))
	if r := f.run(t, "rotate"); r.code != 1 || !strings.Contains(r.stderr, "could not be deleted") {
		t.Fatalf("rotate, its delete failing: exit %d\n%s", r.code, r.stderr)
	}
	if p := f.stored(t); !p.Rotation.Switched() {
		t.Fatalf("the profile is %+v", p)
	}
}

// background is a command of the binary running.
type background struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
}

func (f *rotateFixture) start(t *testing.T, args ...string) *background {
	t.Helper()
	b := &background{cmd: exec.Command(binary, args...)}
	b.cmd.Env, b.cmd.Stderr = f.env, &b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.cmd.Process.Kill() })
	return b
}

// wait waits for b's end and returns its exit code and stderr.
func (b *background) wait(t *testing.T) (int, string) {
	t.Helper()
	err := b.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return b.cmd.ProcessState.ExitCode(), b.stderr.String()
}

// TestRotateAgainstLoginAndLogout: a login or logout of a profile while a
// rotate of it is under way is refused, saying why; the rotate then
// finishes, and the profile works with a key DT has. Before, the login's
// secret was deleted with the old key, at DT too, and the profile named a
// key whose secret was gone.
func TestRotateAgainstLoginAndLogout(t *testing.T) {
	tests := []struct {
		name   string
		resume bool   // the rotate is a rerun of one that left its old key
		held   string // the request held: "exchange" (the first) or authtest.OpDeleteKey
		cmd    string // "login" or "logout"
	}{
		{"login while a rerun exchanges its key", true, "exchange", "login"},
		{"login while the old key is deleted", false, authtest.OpDeleteKey, "login"},
		{"logout while the old key is deleted", false, authtest.OpDeleteKey, "logout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newRotateFixture(t, profile.SecretInFile)
			if tc.resume {
				f.oldKeyLeft(t)
			}
			release := make(chan struct{})
			reached := func() bool { return f.srv.KeyRequests(authtest.OpDeleteKey) >= 1 }
			if tc.held == "exchange" {
				requests := f.srv.Requests()
				f.srv.Inject(authtest.Fault{Hold: release})
				reached = func() bool { return f.srv.Requests() > requests }
			} else {
				f.srv.InjectKeys(authtest.OpDeleteKey, authtest.Fault{Hold: release})
			}
			rot := f.start(t, "rotate")
			if !waitFor(20*time.Second, reached) {
				close(release)
				t.Fatal("rotate did not reach the step")
			}
			var r result
			if tc.cmd == "login" {
				r = f.loginAgain(t)
			} else {
				r = f.run(t, "logout")
			}
			if r.code == 0 || !strings.Contains(r.stderr, "being rotated by another process") || !strings.Contains(r.stderr, "run "+tc.cmd+" again") {
				t.Errorf("%s during a rotate: exit %d\n%s", tc.cmd, r.code, r.stderr)
			}
			close(release)
			code, stderr := rot.wait(t)
			if code != 0 {
				t.Errorf("rotate: exit %d\n%s", code, stderr)
			}
			f.noSecretIn(t, stderr)
			p := f.stored(t)
			f.token(t, p.KeyID, "--force-refresh")
			if keys := f.keys(); !slices.Contains(keys, p.KeyID) {
				t.Errorf("DT has keys %v, not the profile's %s", keys, p.KeyID)
			}
		})
	}
}

// TestRotateResumeInItsAccount: a rerun naming another service account
// than the one the rotation began in is refused, saying which; before, a
// 404 from the other account counted as the old key deleted, and the key
// stayed live at DT, never reported again.
func TestRotateResumeInItsAccount(t *testing.T) {
	f := newRotateFixture(t, profile.SecretInFile)
	f.srv.AddAccount(authtest.Account{KeyID: uniqueName("sa2-"), Email: "sa2@proj1.serviceaccount.d21s.com", Secret: "other-secret-Ub3"})
	f.oldKeyLeft(t)
	r := f.run(t, "rotate", "--project", "proj1", "--service-account", "sa2")
	if r.code == 0 || strings.Contains(r.stderr, "deleted at DT") || !strings.Contains(r.stderr, "sa1") {
		t.Errorf("a rerun naming another service account: exit %d\n%s", r.code, r.stderr)
	}
	if !slices.Contains(f.keys(), f.keyID) {
		t.Fatalf("the old key %s is gone", f.keyID)
	}
	if r := f.run(t, "rotate"); r.code != 0 || !strings.Contains(r.stderr, "old key "+f.keyID+" deleted") {
		t.Errorf("a rerun in its account: exit %d\n%s", r.code, r.stderr)
	}
	if slices.Contains(f.keys(), f.keyID) {
		t.Errorf("the old key %s is still at DT", f.keyID)
	}
}

// TestLoginLogoutOverUnfinishedRotation: what an unfinished rotation left
// at DT is not lost by a login or logout: a key whose create's answer was
// lost is still reported by the next rotate after a login with the same
// key, and a logout names the old key it leaves at DT.
func TestLoginLogoutOverUnfinishedRotation(t *testing.T) {
	t.Run("lost create, login again", func(t *testing.T) {
		t.Parallel()
		f := newRotateFixture(t, profile.SecretInFile)
		f.srv.InjectKeys(authtest.OpCreateKey, authtest.Fault{Late: true, Status: 502, Body: `{"error":"bad gateway"}`})
		if r := f.run(t, "rotate"); r.code != 1 {
			t.Fatalf("rotate, its create's answer lost: exit %d\n%s", r.code, r.stderr)
		}
		lost := f.keys()[1]
		if r := f.loginAgain(t); r.code != 0 || !strings.Contains(r.stderr, "run rotate") {
			t.Errorf("login over the rotation: exit %d\n%s", r.code, r.stderr)
		}
		r := f.run(t, "rotate")
		if r.code != 0 || !strings.Contains(r.stderr, "key "+lost+" of the service account") || !strings.Contains(r.stderr, "never stored") {
			t.Errorf("rotate after the login: exit %d, want key %s reported\n%s", r.code, lost, r.stderr)
		}
	})
	t.Run("old key left, logout", func(t *testing.T) {
		t.Parallel()
		f := newRotateFixture(t, profile.SecretInFile)
		f.oldKeyLeft(t)
		r := f.run(t, "logout")
		if r.code != 0 || !strings.Contains(r.stderr, "warning") || !strings.Contains(r.stderr, "old key "+f.keyID) {
			t.Errorf("logout over the rotation: exit %d, want the old key named\n%s", r.code, r.stderr)
		}
	})
}
