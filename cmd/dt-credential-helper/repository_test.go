package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/keyring/keyringtest"
)

// In-process tests of login and status over the profiles repository: they
// use no token source, so nothing of the token cache's configuration may
// stop them, and status reads no secret.

// runWired runs the program in-process with environment environ.
func runWired(t *testing.T, environ []string, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), env{
		args:    append([]string{prog}, args...),
		stdin:   strings.NewReader(stdin),
		stdout:  &stdout,
		stderr:  &stderr,
		getenv:  func(k string) string { return envValue(environ, k) },
		environ: func() []string { return environ },
	})
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// wiredEnv is an environment with no DT account, no keyring to reach, and
// a token cache mode that does not exist. The keyring is found through
// this process's own environment, so that is set too: a test run outside
// scripts/keyring-session.sh must not touch the user's keyring.
func wiredEnv(t *testing.T) []string {
	t.Helper()
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
	home := t.TempDir()
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"DT_CACHE_DIR=" + filepath.Join(home, "cache"),
		"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus",
		"DT_TOKEN_CACHE=no-such-mode",
	}
}

// login never touches the token cache, so a DT_TOKEN_CACHE the token
// command would refuse does not stop it.
func TestLoginIgnoresTokenCacheMode(t *testing.T) {
	srv := authtest.NewServer(testAccount)
	defer srv.Close()
	environ := wiredEnv(t)
	r := runWired(t, environ, testSecret+"\n", "login", "--profile", "p", "--key-id", testAccount.KeyID,
		"--email", testAccount.Email, "--token-endpoint", srv.TokenURL(), "--store", "file")
	if r.code != 0 || strings.Contains(r.stdout+r.stderr, testSecret) {
		t.Fatalf("login with DT_TOKEN_CACHE=no-such-mode: exit %d, stderr %q; want the profile stored", r.code, r.stderr)
	}
	// The token command does read the mode, and says what is wrong with it.
	r = runWired(t, environ, "", "token", "--profile", "p")
	if r.code != exitUsage || !strings.Contains(r.stderr, "no-such-mode") {
		t.Errorf("token with DT_TOKEN_CACHE=no-such-mode: exit %d, stderr %q; want a usage error naming it", r.code, r.stderr)
	}
}

// A bad --timeout is a usage error before login reads the secret: nothing
// typed at a prompt is wasted on a command line that cannot work.
func TestLoginTimeoutCheckedBeforeSecret(t *testing.T) {
	r := runWired(t, wiredEnv(t), "", "login", "--profile", "p", "--key-id", "k", "--email", "e@example.com", "--timeout", "0")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--timeout must be positive") {
		t.Errorf("login --timeout 0 with no secret on stdin: exit %d, stderr %q; want the --timeout error, not one about the secret", r.code, r.stderr)
	}
}

// status says where each profile's secret is kept without reading it: a
// profile whose secret is not stored anywhere shows where it would be, and
// the keyring, a hung one that counts what it is asked, is never asked.
func TestStatusReadsNoSecret(t *testing.T) {
	hung := keyringtest.StartHungService(t)
	environ := withEnv(wiredEnv(t), "DT_TOKEN_CACHE=file", "DBUS_SESSION_BUS_ADDRESS="+hung.Addr)
	path, err := profile.DefaultPath(func(k string) string { return envValue(environ, k) })
	if err != nil {
		t.Fatal(err)
	}
	err = profile.Update(t.Context(), path, func(f *profile.File) (bool, error) {
		f.Profiles["in-keyring"] = profile.Profile{KeyID: "k1", Email: "a@example.com"}
		f.Profiles["in-file"] = profile.Profile{KeyID: "k2", Email: "b@example.com", SecretStore: profile.SecretInFile}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A process, not in-process: the keyring reads the process's own
	// DBUS_SESSION_BUS_ADDRESS.
	r := runFor(t, runLimit, environ, "", "status")
	if r.code != 0 {
		t.Fatalf("status: exit %d, stderr %q", r.code, r.stderr)
	}
	if n := hung.Calls(); n != 0 {
		t.Errorf("status asked the keyring %d times", n)
	}
	for name, where := range map[string]string{"in-keyring": "keyring", "in-file": "file"} {
		if !regexp.MustCompile(`(?m)^` + name + ` .* ` + where + ` +- +none +unknown$`).MatchString(r.stdout) {
			t.Errorf("status does not show profile %s's secret as kept in the %s, with no cached token and a key of unknown age:\n%s", name, where, r.stdout)
		}
	}
}

// loginArgs are login's arguments for profile name of testAccount at
// endpoint, kept in a secret file without a check: in-process cases need
// neither a keyring nor the network.
func loginArgs(name, endpoint string) []string {
	return []string{"login", "--profile", name, "--key-id", testAccount.KeyID, "--email", testAccount.Email,
		"--token-endpoint", endpoint, "--store", "file", "--no-verify"}
}

// TestLoginSaveFails: a profile that cannot be saved (a FIFO planted as
// the profiles file's lock, which must not hang login) is exit 1 and one
// line naming the lock and saying nothing was stored. The rollback itself
// is the repository's (profile.TestSaveTakesSecretBack); this was
// TestLoginProfilesLockFIFO and TestLoginLeavesNoStraySecret, which ran
// the binary.
func TestLoginSaveFails(t *testing.T) {
	environ := wiredEnv(t)
	path := profilesPath(t, environ)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	mkfifo(t, path+".lock")
	r := runInProcess(t, environ, testSecret+"\n", loginArgs("p", "https://id.example/token")...)
	if r.code != exitFailure || r.stdout != "" {
		t.Errorf("login: exit %d, stdout %q; want 1 and nothing", r.code, r.stdout)
	}
	oneStderrLine(t, r.stderr, path+".lock", "not a regular file", "nothing was stored")
	if _, err := os.Lstat(filepath.Join(profile.SecretsDir(path), profile.SecretKey("p"))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the secret file is left behind (%v)", err)
	}
}

// TestLogoutOutcomes: logout's exit codes and words for a profile no
// longer in the profiles file. Without its account the secret goes but
// its cached tokens cannot be found: exit 1, saying so and what to give,
// not "removed"; with the account, exit 0 and "removed"; with nothing left
// anywhere, an unknown profile, exit 2. What is removed is the
// repository's (profile.TestRemoveNotInFile); this was the command's
// TestLogoutProfileMissingFromFile, which ran the binary.
func TestLogoutOutcomes(t *testing.T) {
	environ := wiredEnv(t)
	const endpoint = "https://id.example/token"
	if r := runInProcess(t, environ, testSecret+"\n", loginArgs("p", endpoint)...); r.code != 0 {
		t.Fatalf("login: exit %d, stderr %q", r.code, r.stderr)
	}
	err := profile.Update(t.Context(), profilesPath(t, environ), func(f *profile.File) (bool, error) {
		delete(f.Profiles, "p")
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := runInProcess(t, environ, "", "logout", "--profile", "p")
	if r.code != exitFailure || strings.Contains(r.stderr, "removed\n") {
		t.Errorf("logout: exit %d, stderr %q; want 1 and no claim that all was removed", r.code, r.stderr)
	}
	oneStderrLine(t, r.stderr, `"p"`, "cached tokens were not removed", "--key-id", "--email")

	r = runInProcess(t, environ, "", "logout", "--profile", "p", "--key-id", testAccount.KeyID, "--email", testAccount.Email, "--token-endpoint", endpoint)
	if r.code != exitOK {
		t.Errorf("logout with the account: exit %d, stderr %q", r.code, r.stderr)
	}
	oneStderrLine(t, r.stderr, `profile "p" removed`)

	r = runInProcess(t, environ, "", "logout", "--profile", "p")
	if r.code != exitUsage {
		t.Errorf("logout of an unknown profile: exit %d, stderr %q; want 2", r.code, r.stderr)
	}
	oneStderrLine(t, r.stderr, `no profile "p"`, "profiles file", "secret files", "nothing was changed")
}
