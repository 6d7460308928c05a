package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// Process-level tests of login, logout and status against the real
// gnome-keyring (inside scripts/keyring-session.sh). The DT identity service
// cannot run here: the in-process emulator (auth/authtest) stands in for it.

// loginFixture is an emulator with an account of its own, a profile name no
// other test uses, and an environment with no DT_SERVICE_ACCOUNT_* at all.
type loginFixture struct {
	srv     *authtest.Server
	env     []string
	home    string
	profile string
	keyID   string
	key     string // the profile's token cache key
}

func newLoginFixture(t *testing.T) *loginFixture {
	t.Helper()
	keyID := uniqueName("login-")
	srv := authtest.NewServer(authtest.Account{KeyID: keyID, Email: testAccount.Email, Secret: testSecret})
	t.Cleanup(srv.Close)
	env := withoutEnv(baseEnv(t, srv.TokenURL()),
		"DT_SERVICE_ACCOUNT_KEY_ID", "DT_SERVICE_ACCOUNT_EMAIL", "DT_SERVICE_ACCOUNT_SECRET", "DT_TOKEN_ENDPOINT")
	env = withEnv(env, "DT_TOKEN_CACHE=keyring", "DBUS_SESSION_BUS_ADDRESS="+os.Getenv("DBUS_SESSION_BUS_ADDRESS"))
	f := &loginFixture{
		srv:     srv,
		env:     env,
		home:    envValue(env, "HOME"),
		profile: uniqueName("p-"),
		keyID:   keyID,
		key:     keyring.Key(srv.TokenURL(), keyID, testAccount.Email),
	}
	t.Cleanup(func() {
		secretToolClear(profile.SecretKey(f.profile))
		secretToolClear(f.key)
	})
	return f
}

func (f *loginFixture) loginArgs(name string) []string {
	return []string{"login", "--profile", name, "--key-id", f.keyID, "--email", testAccount.Email, "--token-endpoint", f.srv.TokenURL()}
}

// profiles reads the profiles file the binary writes.
func (f *loginFixture) profiles(t *testing.T) *profile.File {
	t.Helper()
	path, err := profile.DefaultPath(func(k string) string { return envValue(f.env, k) })
	if err != nil {
		t.Fatal(err)
	}
	pf, err := profile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return pf
}

func withoutEnv(env []string, names ...string) []string {
	var out []string
	for _, e := range env {
		keep := true
		for _, n := range names {
			keep = keep && !strings.HasPrefix(e, n+"=")
		}
		if keep {
			out = append(out, e)
		}
	}
	return out
}

// assertNoFileHolds walks dir and fails t if any file contains s.
func assertNoFileHolds(t *testing.T, dir, s string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("%s holds the secret", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Errorf("no files under %s: the walk checked nothing", dir)
	}
}

func TestLoginRoundTrip(t *testing.T) {
	needKeyringSession(t)
	f := newLoginFixture(t)
	name := f.profile

	// A slow verification, so the running process can be looked at.
	f.srv.Inject(authtest.Fault{Delay: 1500 * time.Millisecond})
	r := loginWatchingProc(t, f, name, testSecret+"\n")
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("login: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	oneStderrLine(t, r.stderr, name, "stored")
	f.wantRequests(t, 1, "login")
	if got, ok := secretToolLookup(t, profile.SecretKey(name)); !ok || got != testSecret {
		t.Fatalf("the keyring does not hold the secret after login (found: %v)", ok)
	}

	tok := strings.TrimSuffix(runFor(t, runLimit, f.env, "", "token", "--profile", name, "-o", "token").stdout, "\n")
	if !f.srv.Valid(tok) {
		t.Fatalf("token --profile %s printed %q, not a valid token", name, tok)
	}
	r = runFor(t, runLimit, withEnv(f.env, "DT_PROFILE="+name), "", "token", "-o", "token")
	if r.code != 0 || r.stdout != tok+"\n" {
		t.Errorf("DT_PROFILE=%s token: exit %d, stdout %q, stderr %q; want the cached token", name, r.code, r.stdout, r.stderr)
	}
	f.wantRequests(t, 2, "login, then two token calls")

	data, ok := secretToolLookup(t, f.key)
	entry, err := keyring.DecodeEntry([]byte(data))
	if !ok || err != nil || entry.AccessToken != tok {
		t.Fatalf("cached token in the keyring: found %v, %v", ok, err)
	}
	r = runFor(t, runLimit, f.env, "", "status")
	if r.code != 0 {
		t.Fatalf("status: exit %d, stderr %q", r.code, r.stderr)
	}
	var row []string
	for line := range strings.Lines(r.stdout) {
		if fields := strings.Fields(line); len(fields) > 0 && fields[0] == name {
			row = fields
		}
	}
	want := "valid until " + entry.Expiry.UTC().Format(time.RFC3339)
	if len(row) < 6 || row[1] != f.keyID || row[4] != "keyring" || !strings.Contains(r.stdout, want) {
		t.Errorf("status does not list profile %s with its key id, a keyring secret and %q:\n%s", name, want, r.stdout)
	}
	if !strings.Contains(r.stdout, "Token cache: keyring") {
		t.Errorf("status does not name the keyring cache:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, tok) {
		t.Error("status shows the token")
	}
	assertNoFileHolds(t, f.home, testSecret)

	r = runFor(t, runLimit, f.env, "", "logout", "--profile", name)
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("logout: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	oneStderrLine(t, r.stderr, name, "removed")
	if _, ok := secretToolLookup(t, profile.SecretKey(name)); ok {
		t.Error("the secret is still in the keyring after logout")
	}
	if _, ok := secretToolLookup(t, f.key); ok {
		t.Error("the cached token is still in the keyring after logout")
	}
	if _, ok := f.profiles(t).Profiles[name]; ok {
		t.Error("the profile is still configured after logout")
	}
	assertNoFileHolds(t, f.home, testSecret)
	assertNoFileHolds(t, f.home, tok)

	for _, e := range [][]string{nil, {"DT_PROFILE=" + name}} {
		args := []string{"token"}
		if e == nil {
			args = append(args, "--profile", name)
		}
		r = runFor(t, runLimit, withEnv(f.env, e...), "", args...)
		if r.code != 2 || r.stdout != "" {
			t.Errorf("%v %v after logout: exit %d, stdout %q; want 2", e, args, r.code, r.stdout)
		}
		oneStderrLine(t, r.stderr, name)
	}
	f.wantRequests(t, 2, "the whole round trip")
}

// loginWatchingProc runs login with secret on stdin and, while it waits for
// the emulator, checks that the secret is on neither its command line nor in
// its environment.
func loginWatchingProc(t *testing.T, f *loginFixture, name, secret string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, f.loginArgs(name)...)
	cmd.Env = f.env
	cmd.Stdin = strings.NewReader(secret)
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	before := f.srv.Requests()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.srv.Requests() == before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if f.srv.Requests() == before {
		t.Error("login made no token request within 10s")
	}
	proc := "/proc/" + strconv.Itoa(cmd.Process.Pid)
	for _, file := range []string{"cmdline", "environ"} {
		b, err := os.ReadFile(filepath.Join(proc, file))
		if err != nil {
			t.Errorf("reading %s of the running login: %v", file, err)
			continue
		}
		// A positive control: this is the running login, not a zombie.
		if file == "cmdline" && !bytes.Contains(b, []byte("\x00--profile\x00"+name+"\x00")) {
			t.Errorf("%s/cmdline = %q: not the running login", proc, b)
		}
		if bytes.Contains(b, []byte(testSecret)) {
			t.Errorf("%s/%s holds the secret", proc, file)
		}
	}
	err := cmd.Wait()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("login did not finish within %v", runLimit)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	checkNoLeak(t, r)
	return r
}

func (f *loginFixture) wantRequests(t *testing.T, want int, when string) {
	t.Helper()
	if n := f.srv.Requests(); n != want {
		t.Errorf("%s: %d token requests, want %d", when, n, want)
	}
}

func TestLoginWrongSecret(t *testing.T) {
	needKeyringSession(t)
	f := newLoginFixture(t)
	wrong := "wrong-" + testSecret // runFor fails the test if it is shown

	t.Run("new profile", func(t *testing.T) {
		r := runFor(t, runLimit, f.env, wrong+"\n", f.loginArgs(f.profile)...)
		if r.code != 1 || r.stdout != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q; want 1", r.code, r.stdout, r.stderr)
		}
		oneStderrLine(t, r.stderr, "invalid_grant", "nothing was stored")
		if _, ok := secretToolLookup(t, profile.SecretKey(f.profile)); ok {
			t.Error("the wrong secret was stored in the keyring")
		}
		if _, ok := f.profiles(t).Profiles[f.profile]; ok {
			t.Error("the profile was stored")
		}
	})

	t.Run("existing profile", func(t *testing.T) {
		if r := runFor(t, runLimit, f.env, testSecret+"\n", f.loginArgs(f.profile)...); r.code != 0 {
			t.Fatalf("login: exit %d, stderr %q", r.code, r.stderr)
		}
		r := runFor(t, runLimit, f.env, wrong+"\n", f.loginArgs(f.profile)...)
		if r.code != 1 {
			t.Fatalf("second login with a wrong secret: exit %d, stderr %q; want 1", r.code, r.stderr)
		}
		if got, ok := secretToolLookup(t, profile.SecretKey(f.profile)); !ok || got != testSecret {
			t.Error("a failed login replaced the working secret")
		}
		r = runFor(t, runLimit, f.env, "", "token", "--profile", f.profile, "-o", "token")
		if r.code != 0 || !f.srv.Valid(strings.TrimSpace(r.stdout)) {
			t.Errorf("token after a failed login: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

// TestLoginUsage needs no keyring: every case fails before touching it.
func TestLoginUsage(t *testing.T) {
	t.Parallel()
	srv := authtest.NewServer(testAccount)
	defer srv.Close()
	env := withoutEnv(baseEnv(t, srv.TokenURL()),
		"DT_SERVICE_ACCOUNT_KEY_ID", "DT_SERVICE_ACCOUNT_EMAIL", "DT_SERVICE_ACCOUNT_SECRET", "DT_TOKEN_ENDPOINT")
	account := []string{"--key-id", testAccount.KeyID, "--email", testAccount.Email, "--token-endpoint", srv.TokenURL()}
	tests := []struct {
		name     string
		args     []string
		stdin    string
		contains []string
	}{
		{"no profile", account, testSecret + "\n", []string{"--profile"}},
		{"profile with a slash", append([]string{"--profile", "a/b"}, account...), testSecret + "\n", []string{"invalid profile name"}},
		{"profile with a leading dot", append([]string{"--profile", "../x"}, account...), testSecret + "\n", []string{"invalid profile name"}},
		{"profile too long", append([]string{"--profile", strings.Repeat("p", 65)}, account...), testSecret + "\n", []string{"invalid profile name"}},
		{"empty stdin", append([]string{"--profile", "usage"}, account...), "", []string{"no secret"}},
		{"blank stdin", append([]string{"--profile", "usage"}, account...), " \n", []string{"no secret"}},
		{"two lines", append([]string{"--profile", "usage"}, account...), testSecret + "\nmore\n", []string{"one line"}},
		{"secret flag", append([]string{"--profile", "usage", "--secret", "x"}, account...), testSecret + "\n", []string{"secret"}},
		{"no key id", []string{"--profile", "usage", "--email", testAccount.Email}, testSecret + "\n", []string{"key id"}},
		{"bad host", append([]string{"--profile", "usage", "--hosts", "registry.example, bad host!"}, account...), testSecret + "\n", []string{"--hosts"}},
		{"bad host port", append([]string{"--profile", "usage", "--hosts", "registry.example:99999"}, account...), testSecret + "\n", []string{"--hosts"}},
	}
	// A group, so the parallel cases finish before the checks below and
	// the cleanup.
	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				r := runInProcess(t, env, tt.stdin, append([]string{"login"}, tt.args...)...)
				if r.code != 2 || r.stdout != "" {
					t.Errorf("exit %d, stdout %q; want 2 and nothing", r.code, r.stdout)
				}
				oneStderrLine(t, r.stderr, tt.contains...)
			})
		}
	})
	if n := srv.Requests(); n != 0 {
		t.Errorf("usage errors made %d token requests", n)
	}
	path, err := profile.DefaultPath(func(k string) string { return envValue(env, k) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("usage errors wrote %s: %v", path, err)
	}
}

// TestProfileSecretReadOnlyToRefresh: serving a cached token with a profile
// reads no secret from the keyring (it would cost a Secret Service read on
// every call); a refresh does, and fails clearly when the secret is gone.
func TestProfileSecretReadOnlyToRefresh(t *testing.T) {
	needKeyringSession(t)
	f := newLoginFixture(t)
	if r := runBinary(t, f.env, testSecret+"\n", f.loginArgs(f.profile)...); r.code != 0 {
		t.Fatalf("login: exit %d: %s", r.code, r.stderr)
	}
	first := runBinary(t, f.env, "", "token", "--profile", f.profile, "-o", "token")
	if first.code != 0 {
		t.Fatalf("token: exit %d: %s", first.code, first.stderr)
	}
	// Without the secret, the cached token is still served...
	secretToolClear(profile.SecretKey(f.profile))
	again := runBinary(t, f.env, "", "token", "--profile", f.profile, "-o", "token")
	if again.code != 0 || again.stdout != first.stdout {
		t.Fatalf("cached token without the secret: exit %d, stdout %q, stderr %q", again.code, again.stdout, again.stderr)
	}
	// ...and a refresh says what is missing.
	r := runBinary(t, f.env, "", "token", "--profile", f.profile, "--force-refresh")
	if r.code != 2 {
		t.Errorf("refresh without the secret: exit %d, want 2", r.code)
	}
	oneStderrLine(t, r.stderr, f.profile, "login")
}

// profilesPath is the profiles file of env.
func profilesPath(t *testing.T, env []string) string {
	t.Helper()
	path, err := profile.DefaultPath(func(k string) string { return envValue(env, k) })
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// A profiles file that others could have written, or that is not a regular
// file of ours, is not trusted: a profile in it could send the cached token
// to any host. The token command refuses it (exit 2, naming the file) rather
// than serve from it, and a FIFO in its place does not hang.
func TestProfilesFileUntrusted(t *testing.T) {
	t.Parallel()
	srv := authtest.NewServer(testAccount)
	defer srv.Close()
	content := fmt.Sprintf(`{"version":1,"profiles":{"p":{"key_id":%q,"email":%q,"token_endpoint":%q,"hosts":["evil.example"]}}}`,
		testAccount.KeyID, testAccount.Email, srv.TokenURL())
	write := func(t *testing.T, path string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		plant func(t *testing.T, path string)
	}{
		{"world-writable", func(t *testing.T, path string) { write(t, path, 0o666) }},
		{"group-writable", func(t *testing.T, path string) { write(t, path, 0o620) }},
		{"symlink to a file of ours", func(t *testing.T, path string) {
			target := filepath.Join(t.TempDir(), "profiles.json")
			write(t, target, 0o600)
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}},
		{"another user's file", func(t *testing.T, path string) {
			needRoot(t)
			write(t, path, 0o644)
			if err := os.Chown(path, nobody, nobody); err != nil {
				t.Fatal(err)
			}
		}},
		{"FIFO", func(t *testing.T, path string) {
			mkfifo(t, path)
		}},
	}
	// In-process and in parallel: each case is refused on reading the
	// profiles file, before any keyring. The status run below stays a
	// process: status asks the keyring, which finds its D-Bus session
	// through this process's environment.
	t.Run("refused", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				env := baseEnv(t, srv.TokenURL())
				path := profilesPath(t, env)
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				tt.plant(t, path)
				r := runInProcess(t, env, "", "token", "--profile", "p", "-o", "token")
				if r.code != 2 || r.stdout != "" {
					t.Errorf("token --profile p: exit %d, stdout %q; want 2 and nothing", r.code, r.stdout)
				}
				oneStderrLine(t, r.stderr, path)
			})
		}
	})

	// A private file of ours with the same content is used: the refusals
	// above are about who could have written it, not what it says.
	env := withEnv(baseEnv(t, srv.TokenURL()), "DT_SERVICE_ACCOUNT_SECRET=")
	path := profilesPath(t, env)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, path, 0o644)
	r := runFor(t, runLimit, env, "", "status")
	if r.code != 0 || !strings.Contains(r.stdout, testAccount.KeyID) {
		t.Errorf("status with a trusted profiles file: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// The marker another process leaves when the keyring hung makes the token
// path skip the keyring for a while; logout must not: it removes the cached
// token from the keyring whatever the marker says (before, the token stayed
// after a logout that said "removed").
func TestLogoutIgnoresHungMarker(t *testing.T) {
	needKeyringSession(t)
	f := newLoginFixture(t)
	if r := runFor(t, runLimit, f.env, testSecret+"\n", f.loginArgs(f.profile)...); r.code != 0 {
		t.Fatalf("login: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runFor(t, runLimit, f.env, "", "token", "--profile", f.profile, "-o", "token"); r.code != 0 {
		t.Fatalf("token: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, ok := secretToolLookup(t, f.key); !ok {
		t.Fatal("no cached token in the keyring: the test checks nothing")
	}
	// keyring.hungMarkerName, fresh: "the keyring hung a moment ago".
	dir := envValue(f.env, "DT_CACHE_DIR")
	if err := os.WriteFile(filepath.Join(dir, "keyring-unresponsive"), []byte("no answer\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runFor(t, runLimit, f.env, "", "logout", "--profile", f.profile)
	if r.code != 0 {
		t.Errorf("logout: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, ok := secretToolLookup(t, f.key); ok {
		t.Error("the cached token is still in the keyring after logout")
	}
}

// TestLoginStoreFile: on a machine with no keyring (no D-Bus session), login
// says so plainly and stores nothing; `login --store file` keeps the secret
// in a private file next to the profiles file, from which token, status and
// logout work without any keyring.
func TestLoginStoreFile(t *testing.T) {
	f := newLoginFixture(t)
	env := withEnv(f.env, "DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus", "DT_TOKEN_CACHE=file")
	path, err := profile.DefaultPath(func(k string) string { return envValue(env, k) })
	if err != nil {
		t.Fatal(err)
	}
	secretPath := filepath.Join(profile.SecretsDir(path), profile.SecretKey(f.profile))
	noLeak := func(r result) {
		t.Helper()
		if strings.Contains(r.stdout+r.stderr, testSecret) {
			t.Fatalf("output shows the secret: stdout %q, stderr %q", r.stdout, r.stderr)
		}
	}

	r := runFor(t, runLimit, env, testSecret+"\n", f.loginArgs(f.profile)...)
	noLeak(r)
	if r.code != 1 || !strings.Contains(r.stderr, "no OS keyring is available") || !strings.Contains(r.stderr, "--store file") {
		t.Fatalf("login without a keyring: exit %d, stderr %q; want exit 1 saying no keyring is available and offering --store file", r.code, r.stderr)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("login without a keyring left a profiles file (%v)", err)
	}

	r = runFor(t, runLimit, env, testSecret+"\n", append(f.loginArgs(f.profile), "--store", "file")...)
	noLeak(r)
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("login --store file: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for p, want := range map[string]os.FileMode{secretPath: 0o600, filepath.Dir(secretPath): 0o700 | os.ModeDir} {
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode() != want {
			t.Errorf("%s: %v, mode %v; want mode %v", p, err, fi.Mode(), want)
		}
	}
	if data, err := os.ReadFile(secretPath); err != nil || string(data) != testSecret {
		t.Errorf("the secret file does not hold the secret (%v)", err)
	}
	if got := f.profiles(t).Profiles[f.profile].SecretStore; got != profile.SecretInFile {
		t.Errorf("profile's secret_store = %q, want %q", got, profile.SecretInFile)
	}

	r = runFor(t, runLimit, env, "", "token", "--profile", f.profile, "-o", "token")
	noLeak(r)
	if r.code != 0 || !f.srv.Valid(strings.TrimSpace(r.stdout)) {
		t.Fatalf("token --profile: exit %d, stderr %q; want a token", r.code, r.stderr)
	}
	r = runFor(t, runLimit, env, "", "status")
	noLeak(r)
	if r.code != 0 || !regexp.MustCompile(f.profile+` .* file +valid until`).MatchString(r.stdout) {
		t.Errorf("status: exit %d, stdout:\n%s\nwant the profile's secret shown as kept in a file", r.code, r.stdout)
	}

	// A secret file others can read is refused, not used.
	if err := os.Chmod(secretPath, 0o644); err != nil {
		t.Fatal(err)
	}
	r = runFor(t, runLimit, env, "", "token", "--profile", f.profile, "--force-refresh", "-o", "token")
	noLeak(r)
	if r.code == 0 || !strings.Contains(r.stderr, secretPath) {
		t.Errorf("token with a secret file others can read: exit %d, stderr %q; want a failure naming the file", r.code, r.stderr)
	}
	if err := os.Chmod(secretPath, 0o600); err != nil {
		t.Fatal(err)
	}

	r = runFor(t, runLimit, env, "", "logout", "--profile", f.profile)
	noLeak(r)
	if r.code != 0 {
		t.Fatalf("logout: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Lstat(secretPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("logout left the secret file (%v)", err)
	}
	if _, ok := f.profiles(t).Profiles[f.profile]; ok {
		t.Errorf("logout left the profile")
	}
}

// TestProfileDirsCheckedOnRead: a secret file and the profiles file are
// trusted only in directories of ours that nobody else can get into, on
// read as on write; whoever can write the directory could swap the files.
func TestProfileDirsCheckedOnRead(t *testing.T) {
	f := newLoginFixture(t)
	env := withEnv(f.env, "DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus", "DT_TOKEN_CACHE=none")
	path := profilesPath(t, env)
	if r := runFor(t, runLimit, env, testSecret+"\n", append(f.loginArgs(f.profile), "--store", "file", "--no-verify")...); r.code != 0 {
		t.Fatalf("login --store file: exit %d, stderr %q", r.code, r.stderr)
	}
	token := func() result {
		t.Helper()
		return runFor(t, runLimit, env, "", "token", "--profile", f.profile, "-o", "token")
	}
	if r := token(); r.code != 0 {
		t.Fatalf("token with private directories: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, dir := range []string{profile.SecretsDir(path), filepath.Dir(path)} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
			defer os.Chmod(dir, 0o700)
			r := token()
			if r.code == 0 || !strings.Contains(r.stderr, dir) || strings.Contains(r.stdout+r.stderr, testSecret) {
				t.Errorf("token with %s open to all: exit %d, stderr %q; want a refusal naming it", dir, r.code, r.stderr)
			}
		})
	}
}
