//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/doctor"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/keyring/keyringtest"
)

// doctorOffline runs the built binary's doctor --offline -o json with env
// and extra arguments: these checks read this machine only.
func doctorOffline(t *testing.T, env []string, args ...string) doctor.Report {
	t.Helper()
	return doctorReport(t, runFor(t, runLimit, env, "", append([]string{"doctor", "--offline", "-o", "json"}, args...)...))
}

// TestDoctorKernelKeyring: the real kernel keyring passes, and is where
// auto caches tokens; refused by a seccomp filter, as in a container, it
// is skipped under auto (tokens go to files) and fails under --cache
// kernel.
func TestDoctorKernelKeyring(t *testing.T) {
	needKernelKeyring(t)
	env := withoutEnv(withEnv(baseEnv(t, "https://identity.invalid/oauth2/token"), "XDG_RUNTIME_DIR="+t.TempDir()),
		"DT_TOKEN_CACHE", "DBUS_SESSION_BUS_ADDRESS")
	rep := doctorOffline(t, env)
	wantCheck(t, rep, "kernel-keyring", "", doctor.Pass, "usable")
	wantCheck(t, rep, "token-cache", "", doctor.Pass, "cached in kernel")

	denied := withEnv(env, keyringtest.DenyKeyctlEnv)
	rep = doctorOffline(t, denied)
	wantCheck(t, rep, "kernel-keyring", "", doctor.Skip, "kernel keyring", "tokens go to the Secret Service or files")
	wantCheck(t, rep, "token-cache", "", doctor.Pass, "cached in file")

	rep = doctorOffline(t, denied, "--cache", "kernel")
	wantCheck(t, rep, "kernel-keyring", "", doctor.Fail, "kernel keyring", "--cache auto")
}

// TestDoctorSecretServiceForeignBus: DBUS_SESSION_BUS_ADDRESS naming a bus
// another user (uid 65534) serves, with their own unlocked gnome-keyring,
// fails the Secret Service check whatever the mode, naming the other user
// and telling to unset it; the bus is never authenticated to. A stale
// address, whose socket is gone, is only no keyring: skipped under auto,
// failed under --cache keyring. The real Secret Service of the test's own
// session passes.
func TestDoctorSecretServiceForeignBus(t *testing.T) {
	foreign := keyringtest.StartForeignBus(t)
	connections := foreign.WatchConnections(t)
	env := withoutEnv(withEnv(baseEnv(t, "https://identity.invalid/oauth2/token"), "XDG_RUNTIME_DIR="+t.TempDir()), "DT_TOKEN_CACHE")
	for _, addr := range []string{foreign.PathAddr, foreign.AbstractAddr} {
		for _, mode := range []string{"auto", "keyring"} {
			rep := doctorOffline(t, withEnv(env, "DBUS_SESSION_BUS_ADDRESS="+addr), "--cache", mode)
			wantCheck(t, rep, "secret-service", "", doctor.Fail, "uid 65534", "unset it")
		}
	}
	if n := connections(); n != 0 {
		t.Errorf("%d connections got through the other user's bus's authentication, want none", n)
	}

	stale := withEnv(env, "DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(t.TempDir(), "bus"))
	wantCheck(t, doctorOffline(t, stale, "--cache", "auto"), "secret-service", "", doctor.Skip, "no D-Bus session bus")
	rep := doctorOffline(t, stale, "--cache", "keyring")
	wantCheck(t, rep, "secret-service", "", doctor.Fail, "no D-Bus session bus", "--cache auto")
	wantCheck(t, rep, "token-cache", "", doctor.Fail, "keyring unavailable", "--cache auto")

	if os.Getenv("DT_TEST_SECRET_SERVICE") == "1" {
		needKeyringSession(t)
		ours := withEnv(env, "DBUS_SESSION_BUS_ADDRESS="+os.Getenv("DBUS_SESSION_BUS_ADDRESS"))
		rep = doctorOffline(t, ours, "--cache", "keyring")
		wantCheck(t, rep, "secret-service", "", doctor.Pass, "session bus of this user's")
		wantCheck(t, rep, "token-cache", "", doctor.Pass, "cached in keyring")
	}
}

// TestDoctorProfileSecretInKeyring: a profile whose secret login kept in
// the real Secret Service passes (looked up, never read out); once the
// entry is gone, it fails with the login that stores it again.
func TestDoctorProfileSecretInKeyring(t *testing.T) {
	needKeyringSession(t)
	f := newLoginFixture(t)
	if r := runFor(t, runLimit, f.env, testSecret+"\n", f.loginArgs(f.profile)...); r.code != 0 {
		t.Fatalf("login: exit %d: %s", r.code, r.stderr)
	}
	rep := doctorOffline(t, f.env)
	wantCheck(t, rep, "secret", f.profile, doctor.Pass, "in the OS keyring", "not read out")
	wantCheck(t, rep, "secret-service", "", doctor.Pass)

	secretToolClear(profile.SecretKey(f.profile))
	rep = doctorOffline(t, f.env)
	wantCheck(t, rep, "secret", f.profile, doctor.Fail, "no secret in the OS keyring", "login --profile "+f.profile+" --key-id "+f.keyID)
}

// TestDoctorCacheDirUntrusted: a DT_CACHE_DIR that every token call
// refuses (open to others; another user's; a symlink; under a directory
// others can write) fails the cache directory check, with the advice to
// use a directory of one's own and never to change the mode of this one;
// doctor changes nothing there. A private directory passes.
func TestDoctorCacheDirUntrusted(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	shared := mkdirMode(t, filepath.Join(root, "shared"), 0o777)
	theirs := mkdirMode(t, filepath.Join(root, "theirs"), 0o700)
	if err := os.Chown(theirs, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink(mkdirMode(t, filepath.Join(root, "target"), 0o700), link); err != nil {
		t.Fatal(err)
	}
	under := mkdirMode(t, filepath.Join(mkdirMode(t, filepath.Join(root, "open"), 0o777), "mine"), 0o700)
	before := dirListing(t, root)
	env := withEnv(baseEnv(t, "https://identity.invalid/oauth2/token"), "DT_TOKEN_CACHE=file")
	for name, dir := range map[string]string{"shared": shared, "another user's": theirs, "a symlink": link, "under an open directory": under} {
		t.Run(name, func(t *testing.T) {
			rep := doctorOffline(t, withEnv(env, "DT_CACHE_DIR="+dir))
			c := wantCheck(t, rep, "cache-dir", "", doctor.Fail, "DT_CACHE_DIR", "do not change the mode")
			if strings.Contains(c.Fix, "chmod") || strings.Contains(c.Detail, "chmod") {
				t.Errorf("the advice re-modes a directory: %+v", c)
			}
		})
	}
	if after := dirListing(t, root); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("doctor changed the planted directories:\nbefore %q\nafter  %q", before, after)
	}
	rep := doctorOffline(t, withEnv(env, "DT_CACHE_DIR="+mkdirMode(t, filepath.Join(root, "private"), 0o700)))
	wantCheck(t, rep, "cache-dir", "", doctor.Pass, "private")
}

// TestDoctorSibling: the plugin program installed next to the helper
// passes; missing, it is a warning, and a failure once a Vault account
// needs it; writable by others or another user's, it fails as refused.
func TestDoctorSibling(t *testing.T) {
	needRoot(t)
	srv := authtest.NewServer(testAccount)
	t.Cleanup(srv.Close)
	env := baseEnv(t, srv.TokenURL())
	doctorAt := func(t *testing.T, dir string, env []string) doctor.Report {
		t.Helper()
		return doctorReport(t, runPathFor(t, filepath.Join(dir, prog), runLimit, env, "", "doctor", "--offline", "-o", "json"))
	}

	dir := installTo(t, true)
	wantCheck(t, doctorAt(t, dir, env), "plugin-program", "", doctor.Pass, filepath.Join(dir, pluginProg), "of this program's build")

	missing := installTo(t, false)
	wantCheck(t, doctorAt(t, missing, env), "plugin-program", "", doctor.Warn, "not there", "install both")
	fleet := withEnv(withoutAccount(env), "DT_VAULT_PATH=dt/token/prod", "VAULT_ADDR=http://127.0.0.1:1", "VAULT_TOKEN=doctor-test-vault-token")
	wantCheck(t, doctorAt(t, missing, fleet), "plugin-program", "", doctor.Fail, "not there", "Vault accounts")

	for name, spoil := range map[string]func(path string) error{
		"writable by others": func(path string) error { return os.Chmod(path, 0o775) },
		"another user's":     func(path string) error { return os.Chown(path, nobody, nobody) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := installTo(t, true)
			if err := spoil(filepath.Join(dir, pluginProg)); err != nil {
				t.Fatal(err)
			}
			wantCheck(t, doctorAt(t, dir, env), "plugin-program", "", doctor.Fail, "refusing to run", "only you or root can write")
		})
	}
}

// TestDoctorProfilesFileRefused: a profiles file others can write, which
// every command refuses, fails the profiles check with what is wrong and
// the advice to fix or move it; the accounts of the environment are still
// checked.
func TestDoctorProfilesFileRefused(t *testing.T) {
	t.Parallel()
	srv := authtest.NewServer(testAccount)
	t.Cleanup(srv.Close)
	env := baseEnv(t, srv.TokenURL())
	loginFileProfile(t, env, srv.TokenURL(), "prod")
	path, err := profile.DefaultPath(func(k string) string { return envValue(env, k) })
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	rep := doctorOffline(t, env)
	wantCheck(t, rep, "profiles", "", doctor.Fail, path, "writable by group or others", "others cannot write")
	wantCheck(t, rep, "secret", "(environment)", doctor.Pass)
}
