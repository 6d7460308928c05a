package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
	"github.com/dt-credential-helper/dt-credential-helper/keyring/keyringtest"
)

// These tests build the real binary and run it as a process. The DT identity
// service cannot run here: the in-process emulator (auth/authtest) stands in
// for it.

const testSecret = "e2e-secret-W7tq3p"

var (
	binDir string // holds the built dt-credential-helper and dt-credential-helper-plugin
	binary string
)

func TestMain(m *testing.M) {
	// A binary run under keyringtest.DenyKeyctl passes through here.
	keyringtest.ExecDenyingKeyctl()
	if path := os.Getenv(envTestHost); path != "" {
		os.Exit(runTestHost(path))
	}
	dir, err := os.MkdirTemp("", "dt-credential-helper-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	raiseParallel()
	binary = filepath.Join(dir, prog)
	// The plugin's own program next to the helper, as installed: the
	// helper hands a host's launch over to it.
	build := exec.Command("go", "build", "-trimpath", "-o", dir+string(filepath.Separator), ".", "../"+pluginProg)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building %s and %s: %v\n%s", prog, pluginProg, err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	// Built above with the user's Go settings; the tests run with none of
	// the user's own.
	code := testutil.RunIsolated(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// testParallel is how many parallel tests run at once unless -parallel says
// otherwise. The default, GOMAXPROCS, is 2 on a small machine, but these
// tests spend their time waiting, not computing: on retry backoffs, token
// deadlines, hung keyrings and child processes. Run two at a time, the fault
// matrix alone waits half a minute in line.
const testParallel = 8

// raiseParallel sets -test.parallel to testParallel when the command line
// did not set it. Flags are parsed here, before m.Run, to see whether it did.
func raiseParallel() {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given && runtime.GOMAXPROCS(0) < testParallel {
		if err := flag.Set("test.parallel", strconv.Itoa(testParallel)); err != nil {
			fmt.Fprintln(os.Stderr, "setting -test.parallel:", err)
		}
	}
}

var testAccount = authtest.Account{KeyID: "e2e-key", Email: "e2e@project.serviceaccount.d21s.com", Secret: testSecret}

// result is one run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

// baseEnv is a clean environment: the account, a private cache and config
// directory, and no keyring (tests of the keyring live in keyring/ and in
// cache_test.go).
func baseEnv(t *testing.T, tokenURL string) []string {
	t.Helper()
	home := t.TempDir()
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"DT_CACHE_DIR=" + filepath.Join(home, "cache"),
		"DT_TOKEN_CACHE=file",
		"DT_SERVICE_ACCOUNT_KEY_ID=" + testAccount.KeyID,
		"DT_SERVICE_ACCOUNT_EMAIL=" + testAccount.Email,
		"DT_SERVICE_ACCOUNT_SECRET=" + testAccount.Secret,
		"DT_TOKEN_ENDPOINT=" + tokenURL,
	}
}

func runBinary(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	return runCommand(t, cmd, stdin)
}

// runCommand runs cmd, the binary set up by the caller, with stdin.
func runCommand(t *testing.T, cmd *exec.Cmd, stdin string) result {
	t.Helper()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s: %v", cmd.Path, err)
	}
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	checkNoLeak(t, r)
	return r
}

// leakIn says which output of r shows the secret or an assertion, or "".
func leakIn(r result) string {
	for name, out := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
		if strings.Contains(out, testSecret) {
			return fmt.Sprintf("%s shows the secret: %q", name, out)
		}
		if looksLikeJWT(out) {
			return fmt.Sprintf("%s shows a JWT: %q", name, out)
		}
	}
	return ""
}

// checkNoLeak fails t if r shows the secret or an assertion: whatever the
// command, they never show. Safe to call from goroutines.
func checkNoLeak(t *testing.T, r result) {
	if leak := leakIn(r); leak != "" {
		t.Error(leak)
	}
}

// jwtShape is a JWT's header and payload: base64url of JSON objects, so
// both start with "eyJ". A bare "eyJ" also turns up inside random tokens.
var jwtShape = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]*\.`)

// looksLikeJWT reports whether s contains something shaped like a JWT, such
// as an assertion.
func looksLikeJWT(s string) bool { return jwtShape.MatchString(s) }

func withEnv(env []string, kv ...string) []string {
	out := append([]string(nil), env...)
	for _, s := range kv {
		key := s[:strings.IndexByte(s, '=')+1]
		filtered := out[:0]
		for _, e := range out {
			if !strings.HasPrefix(e, key) {
				filtered = append(filtered, e)
			}
		}
		out = append(filtered, s)
	}
	return out
}

func TestTokenFormats(t *testing.T) {
	t.Parallel()
	srv := authtest.NewServer(testAccount)
	defer srv.Close()
	env := baseEnv(t, srv.TokenURL())

	t.Run("json", func(t *testing.T) {
		r := runInProcess(t, env, "", "token", "-o", "json")
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		var got struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			ExpiresAt   string `json:"expires_at"`
			ExpiresIn   int64  `json:"expires_in"`
		}
		dec := json.NewDecoder(strings.NewReader(r.stdout))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("stdout %q: %v", r.stdout, err)
		}
		if !srv.Valid(got.AccessToken) || got.TokenType != "Bearer" {
			t.Errorf("got %+v, want a valid Bearer token", got)
		}
		exp, err := time.Parse(time.RFC3339, got.ExpiresAt)
		if err != nil || !strings.HasSuffix(got.ExpiresAt, "Z") {
			t.Errorf("expires_at %q is not RFC 3339 UTC", got.ExpiresAt)
		}
		if left := time.Until(exp); got.ExpiresIn < 3500 || got.ExpiresIn > 3600 || left < 3500*time.Second {
			t.Errorf("expires_in %d, expires_at %s: want about an hour", got.ExpiresIn, got.ExpiresAt)
		}
	})
	// The token from the first run is cached: every format shows the same one.
	want := strings.TrimSpace(runInProcess(t, env, "", "token", "-o", "token").stdout)
	if !srv.Valid(want) {
		t.Fatalf("-o token printed %q, not a valid token", want)
	}
	tests := []struct {
		name   string
		args   []string
		extra  []string
		stdout string // exact, with TOKEN for the token
	}{
		{name: "token", args: []string{"-o", "token"}, stdout: "TOKEN\n"},
		{name: "header", args: []string{"--output", "header"}, stdout: "Authorization: Bearer TOKEN\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runInProcess(t, withEnv(env, tt.extra...), "", append([]string{"token"}, tt.args...)...)
			if r.code != 0 || r.stdout != strings.ReplaceAll(tt.stdout, "TOKEN", want) {
				t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
		})
	}
	execTests := []struct {
		name, execInfo, args, apiVersion string
	}{
		{"explicit", "", "-o exec-credential", "client.authentication.k8s.io/v1"},
		{"KUBERNETES_EXEC_INFO v1", `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}`, "", "client.authentication.k8s.io/v1"},
		{"KUBERNETES_EXEC_INFO v1beta1", `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":true}}`, "", "client.authentication.k8s.io/v1beta1"},
	}
	for _, tt := range execTests {
		t.Run("exec-credential "+tt.name, func(t *testing.T) {
			e := env
			if tt.execInfo != "" {
				e = withEnv(env, "KUBERNETES_EXEC_INFO="+tt.execInfo)
			}
			r := runInProcess(t, e, "", append([]string{"token"}, strings.Fields(tt.args)...)...)
			var ec struct { // encoding/json matches the names without case
				Kind, APIVersion string
				Status           struct{ ExpirationTimestamp, Token string }
			}
			if err := json.Unmarshal([]byte(r.stdout), &ec); err != nil || r.code != 0 {
				t.Fatalf("exit %d, stdout %q: %v", r.code, r.stdout, err)
			}
			if ec.Kind != "ExecCredential" || ec.APIVersion != tt.apiVersion || ec.Status.Token != want {
				t.Errorf("got %+v, want apiVersion %s and the token", ec, tt.apiVersion)
			}
			if _, err := time.Parse(time.RFC3339, ec.Status.ExpirationTimestamp); err != nil {
				t.Errorf("expirationTimestamp: %v", err)
			}
		})
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("%d token requests across all formats, want 1 (the rest cached)", n)
	}
}

func TestTokenErrors(t *testing.T) {
	t.Parallel()
	srv := authtest.NewServer(testAccount)
	t.Cleanup(srv.Close) // after the parallel cases
	env := baseEnv(t, srv.TokenURL())
	tests := []struct {
		name     string
		env      []string
		args     []string
		code     int
		contains []string
	}{
		{name: "wrong secret", env: withEnv(env, "DT_SERVICE_ACCOUNT_SECRET=wrong-"+testSecret), args: []string{"token"}, code: 1,
			contains: []string{"e2e-key", srv.TokenURL(), "invalid_grant", "rejected"}},
		{name: "missing email", env: withEnv(env, "DT_SERVICE_ACCOUNT_EMAIL="), args: []string{"token"}, code: 2, contains: []string{"email", "--email"}},
		{name: "missing secret", env: withEnv(env, "DT_SERVICE_ACCOUNT_SECRET="), args: []string{"token"}, code: 2, contains: []string{"secret"}},
		{name: "unknown flag", args: []string{"token", "--nope"}, code: 2, contains: []string{"nope"}},
		{name: "secret flag refused", args: []string{"token", "--secret", "x"}, code: 2, contains: []string{"secret"}},
		{name: "unknown format", args: []string{"token", "-o", "yaml"}, code: 2, contains: []string{"yaml"}},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, contains: []string{"frobnicate"}},
		{name: "plain http endpoint", env: withEnv(env, "DT_TOKEN_ENDPOINT=http://identity.example/oauth2/token"), args: []string{"token"}, code: 2, contains: []string{"https"}},
		{name: "unknown exec apiVersion", env: withEnv(env, `KUBERNETES_EXEC_INFO={"apiVersion":"client.authentication.k8s.io/v2"}`), args: []string{"token"}, code: 2, contains: []string{"apiVersion"}},
		{name: "bad cache mode", args: []string{"token", "--cache", "cloud"}, code: 2, contains: []string{"cloud"}},
		{name: "unreachable endpoint", env: withEnv(env, "DT_TOKEN_ENDPOINT=http://127.0.0.1:1/oauth2/token"), args: []string{"token", "--timeout", "2s"}, code: 1, contains: []string{"127.0.0.1:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := tt.env
			if e == nil {
				e = env
			}
			r := runInProcess(t, e, "", tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", r.code, tt.code, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			if lines := strings.Count(r.stderr, "\n"); lines != 1 || !strings.HasPrefix(r.stderr, prog+": ") {
				t.Errorf("stderr is not one %q line: %q", prog+": ...", r.stderr)
			}
			for _, c := range tt.contains {
				if !strings.Contains(r.stderr, c) {
					t.Errorf("stderr %q does not mention %q", r.stderr, c)
				}
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	t.Parallel()
	env := baseEnv(t, "http://127.0.0.1:1/oauth2/token")
	type helpCase struct {
		args []string
		name string // the usage line's third word: the command, or COMMAND
	}
	cases := []helpCase{
		{[]string{"--help"}, "COMMAND"},
		{[]string{"help"}, "COMMAND"},
		{[]string{"login", "-h"}, "login"},
		{[]string{"exec", "--help", "--", "true"}, "exec"},
	}
	// Every command's --help, so a command added later is checked too.
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	for _, name := range names {
		cases = append(cases, helpCase{[]string{name, "--help"}, name})
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			r := runInProcess(t, env, "", tc.args...)
			first, _, _ := strings.Cut(r.stdout, "\n")
			w := strings.Fields(first)
			if r.code != 0 || len(w) < 3 || w[0] != "Usage:" || w[1] != prog || w[2] != tc.name || r.stderr != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 0, a usage line for %s, no stderr", r.code, r.stdout, r.stderr, tc.name)
			}
		})
	}
	// The overview names every command.
	r := runInProcess(t, env, "", "--help")
	for _, name := range names {
		if !strings.Contains(r.stdout, "\n  "+name+" ") {
			t.Errorf("--help does not list %q:\n%s", name, r.stdout)
		}
	}
	r = runInProcess(t, env, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, prog+" ") || !strings.Contains(r.stdout, "go1.") {
		t.Errorf("version: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestVerboseLogsStepsWithoutSecrets(t *testing.T) {
	t.Parallel()
	srv := authtest.NewServer(testAccount)
	defer srv.Close()
	env := baseEnv(t, srv.TokenURL())
	srv.Inject(authtest.Fault{Status: 503, Body: "{}", RetryAfter: "0"})
	r := runInProcess(t, env, "", "token", "-o", "token", "--verbose")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	tok := strings.TrimSpace(r.stdout)
	for _, want := range []string{srv.TokenURL(), "attempt=1", "status=503", "decision=retry", "attempt=2", "status=200"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("verbose log lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, tok) {
		t.Errorf("verbose log shows the token")
	}
}

// TestCacheNoneTouchesNoDisk: with nothing cached there is nothing to
// refresh once for everyone, so no lock file either (concurrent uncached
// calls have no lock to queue behind): the cache directory is never created.
func TestCacheNoneTouchesNoDisk(t *testing.T) {
	t.Parallel()
	srv := authtest.NewServer(testAccount)
	defer srv.Close()
	env := baseEnv(t, srv.TokenURL())
	for range 2 {
		if r := runInProcess(t, env, "", "token", "--cache", "none", "-o", "token"); r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	}
	if srv.Requests() != 2 {
		t.Errorf("%d token requests for two uncached calls, want 2", srv.Requests())
	}
	dir := envValue(env, "DT_CACHE_DIR")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		entries, _ := os.ReadDir(dir)
		t.Errorf("--cache none created %s (%d entries): %v", dir, len(entries), err)
	}
}

// waitFor polls cond every few milliseconds until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
