//go:build unix

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
)

// TestProfileRollbackByAnotherUser is the attack of issue 16 (item 8), for
// real: XDG_CONFIG_HOME lies under a directory others can write (not
// sticky). The user's profile, made while that directory was still
// private (or by an earlier version), gives its tokens to old.example;
// another user (nobody, uid 65534) renames the whole config directory
// aside; the user logs in again giving them to new.example only; the other
// user puts the old directory back. Before the fix that login went through
// and git then got the profile's token for old.example, the host the user
// had removed. Now the helper refuses the config directory under such a
// directory (exit 2, naming it): the second login stores nothing, and git
// gets no token. Real git, a real second uid; the emulator stands in for
// DT's identity service.
func TestProfileRollbackByAnotherUser(t *testing.T) {
	needRoot(t)
	gitBin, _ := lookGit(t)
	f := newLoginFixture(t)
	// Outside the root-only test directories, so that nobody can reach
	// the shared directory.
	base, err := os.MkdirTemp("", "dt-rollback-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	shared := mkdirMode(t, filepath.Join(base, "shared"), 0o700)
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	xdg := filepath.Join(shared, "xdg")
	env := withEnv(f.env, "XDG_CONFIG_HOME="+xdg, "DT_TOKEN_CACHE=none", "DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus")
	login := func(host string) result {
		t.Helper()
		return runFor(t, runLimit, env, testSecret+"\n", append(f.loginArgs(f.profile), "--store", "file", "--no-verify", "--hosts", host)...)
	}
	mvAsNobody := func(from, to string) error {
		cmd := exec.Command("mv", from, to)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("mv %s %s as nobody: %v: %s", from, to, err, out)
		}
		return nil
	}

	if r := login("old.example"); r.code != 0 {
		t.Fatalf("login under a private directory: exit %d, stderr %q", r.code, r.stderr)
	}
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := mvAsNobody(xdg, filepath.Join(shared, "snapshot")); err != nil {
		t.Fatal(err)
	}
	r := login("new.example")
	if r.code != 2 || !strings.Contains(r.stderr, shared) || !strings.Contains(r.stderr, "group or others can write") {
		t.Errorf("login under %s: exit %d, stderr %q; want exit 2 naming it", shared, r.code, r.stderr)
	}
	// Nothing to move aside when that login stored nothing.
	if err := mvAsNobody(xdg, filepath.Join(shared, "newer")); err != nil {
		t.Log(err)
	}
	if err := mvAsNobody(filepath.Join(shared, "snapshot"), xdg); err != nil {
		t.Fatal(err)
	}

	genv := withEnv(gitEnv(t, f.srv.TokenURL()), "XDG_CONFIG_HOME="+xdg, "DT_TOKEN_CACHE=none", "DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus")
	genv = withoutEnv(genv, "DT_SERVICE_ACCOUNT_KEY_ID", "DT_SERVICE_ACCOUNT_EMAIL", "DT_SERVICE_ACCOUNT_SECRET")
	r = gitFill(t, gitBin, genv, "protocol=https\nhost=old.example\n")
	if got := gitAttrs(r.stdout)["password"]; got != "" {
		t.Errorf("git got a token for old.example, the host the user removed (valid: %v)", f.srv.Valid(got))
	}
	if !strings.Contains(r.stderr, shared) {
		t.Errorf("git's stderr %q does not carry the helper's refusal naming %s", r.stderr, shared)
	}
}

// TestCredentialsFileReadableByOthers: a credentials file group or others
// can read is refused as OpenSSH refuses such a private key, exit 2, with
// the advice to chmod 600 it; nothing is requested and the secret is not
// shown. A 0600 one is used.
func TestCredentialsFileReadableByOthers(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o644, 0o600} {
		t.Run(mode.String(), func(t *testing.T) {
			srv := authtest.NewServer(testAccount)
			defer srv.Close()
			path := filepath.Join(t.TempDir(), "credentials.json")
			content := fmt.Sprintf(`{"serviceAccount":{"keyId":%q,"secret":%q,"email":%q}}`, testAccount.KeyID, testAccount.Secret, testAccount.Email)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			env := withEnv(withoutEnv(baseEnv(t, srv.TokenURL()), "DT_SERVICE_ACCOUNT_KEY_ID", "DT_SERVICE_ACCOUNT_EMAIL", "DT_SERVICE_ACCOUNT_SECRET"), "DT_CREDENTIALS_FILE="+path)
			r := runFor(t, runLimit, env, "", "token", "-o", "token")
			if mode == 0o600 {
				if r.code != 0 || !srv.Valid(strings.TrimSpace(r.stdout)) {
					t.Fatalf("exit %d, stderr %q; want the token", r.code, r.stderr)
				}
				return
			}
			if r.code != 2 || r.stdout != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", r.code, r.stdout)
			}
			oneStderrLine(t, r.stderr, "credentials file", "chmod 600 "+path)
			if n := srv.Requests(); n != 0 {
				t.Errorf("%d token requests, want none", n)
			}
		})
	}
}
