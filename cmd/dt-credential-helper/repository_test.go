package main

import (
	"bytes"
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
// a token cache mode that does not exist.
func wiredEnv(t *testing.T) []string {
	t.Helper()
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
		if !regexp.MustCompile(`(?m)^` + name + ` .* ` + where + ` +none$`).MatchString(r.stdout) {
			t.Errorf("status does not show profile %s's secret as kept in the %s, with no cached token:\n%s", name, where, r.stdout)
		}
	}
}
