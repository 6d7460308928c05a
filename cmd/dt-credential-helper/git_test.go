package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

// These tests drive the real git against a local smart-HTTP server (git
// http-backend behind net/http/cgi). The DT identity service cannot run here:
// the in-process emulator (auth/authtest) issues the tokens, and the git
// server accepts only tokens the emulator says are valid, as the DT API would.

// helperLinks returns a directory holding git-credential-dt and
// docker-credential-dt, symlinks to the built binary, for the front of PATH:
// git and docker find helpers by those names, and the binary picks its role
// from the name it was run as.
func helperLinks(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{gitHelperName, dockerHelperName} {
		if err := os.Symlink(binary, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// gitServer is a smart-HTTP git server that wants a token the emulator
// issued, as the password of HTTP Basic auth, as a Bearer token, or either,
// as its schemes say; it offers each in a WWW-Authenticate header.
type gitServer struct {
	*httptest.Server
	idp     *authtest.Server
	schemes []string // "Basic", "Bearer"

	mu         sync.Mutex
	rejectNext bool     // refuse the next valid token once, as a server that revoked it would
	rejected   []string // tokens refused that way
	accepted   []string // distinct valid tokens accepted, in order
	used       []string // the scheme of each accepted request
}

// newGitServer starts a git server that takes Basic auth only.
func newGitServer(t *testing.T, gitBin string, idp *authtest.Server, projectRoot string) *gitServer {
	t.Helper()
	return newGitServerSchemes(t, gitBin, idp, projectRoot, "Basic")
}

func newGitServerSchemes(t *testing.T, gitBin string, idp *authtest.Server, projectRoot string, schemes ...string) *gitServer {
	t.Helper()
	backend := &cgi.Handler{
		Path: gitBin,
		Args: []string{"http-backend"},
		Env: []string{
			"GIT_PROJECT_ROOT=" + projectRoot,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + t.TempDir(),
		},
		Stderr: os.Stderr,
	}
	s := &gitServer{idp: idp, schemes: schemes}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.allow(r) {
			for _, scheme := range s.schemes {
				w.Header().Add("WWW-Authenticate", scheme+` realm="dt"`)
			}
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *gitServer) allow(r *http.Request) bool {
	scheme, password := "Basic", ""
	if _, p, ok := r.BasicAuth(); ok {
		password = p
	} else if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		scheme, password = "Bearer", tok
	}
	if password == "" || !slices.Contains(s.schemes, scheme) || !s.idp.Valid(password) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rejectNext {
		s.rejectNext = false
		s.rejected = append(s.rejected, password)
		return false
	}
	s.used = append(s.used, scheme)
	if len(s.accepted) == 0 || s.accepted[len(s.accepted)-1] != password {
		s.accepted = append(s.accepted, password)
	}
	return true
}

func (s *gitServer) rejectOnce() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectNext = true
}

// schemesUsed returns the distinct schemes of the accepted requests.
func (s *gitServer) schemesUsed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.used)
	slices.Sort(out)
	return slices.Compact(out)
}

func (s *gitServer) seen() (accepted, rejected []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.accepted...), append([]string(nil), s.rejected...)
}

// gitEnv is baseEnv for git: the helper links first on PATH, and git isolated
// from the user's and the system's configuration and from any prompt.
func gitEnv(t *testing.T, tokenURL string, extra ...string) []string {
	t.Helper()
	env := baseEnv(t, tokenURL)
	var home string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "HOME="); ok {
			home = v
		}
	}
	return withEnv(env, append([]string{
		"PATH=" + helperLinks(t) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + filepath.Join(home, ".gitconfig"),
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=",
		"SSH_ASKPASS=",
		"LC_ALL=C",
		"GIT_AUTHOR_NAME=dt test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=dt test", "GIT_COMMITTER_EMAIL=test@example.com",
	}, extra...)...)
}

// runGitCmd runs git in dir with env and stdin; it never fails the test itself.
func runGitCmd(t *testing.T, gitBin, dir string, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(gitBin, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running git %v: %v", args, err)
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func mustGit(t *testing.T, gitBin, dir string, env []string, args ...string) string {
	t.Helper()
	r := runGitCmd(t, gitBin, dir, env, "", args...)
	if r.code != 0 {
		t.Fatalf("git %v: exit %d\n%s", args, r.code, r.stderr)
	}
	return r.stdout
}

// lookGit finds git and its version as [major, minor].
func lookGit(t *testing.T) (string, [2]int) {
	t.Helper()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		testutil.SkipOutsideCI(t, "git is not installed: install it to run this test")
	}
	return gitBin, gitVersion(t, gitBin, nil)
}

// gitVersion returns the version of gitBin run with env as [major, minor].
func gitVersion(t *testing.T, gitBin string, env []string) [2]int {
	t.Helper()
	cmd := exec.Command(gitBin, "version")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s version: %v", gitBin, err)
	}
	m := regexp.MustCompile(`git version (\d+)\.(\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("cannot parse %q", out)
	}
	major, _ := strconv.Atoi(string(m[1]))
	minor, _ := strconv.Atoi(string(m[2]))
	return [2]int{major, minor}
}

// envGitDir names a git install directory (bin/git, libexec/git-core) of git
// 2.46 or newer for the tests of capability[]=authtype.
const envGitDir = "DT_TEST_GIT_DIR"

// lookNewGit finds a git of 2.46 or newer, the first to send
// capability[]=authtype, and the environment entry it runs with
// (GIT_EXEC_PATH, so it finds its own git-remote-https). The system git may
// be older (Debian 12 ships 2.39): the project keeps git 2.47 in
// shared/tools/git-2.47 beside the checkout (beside the main checkout for a
// git worktree), and DT_TEST_GIT_DIR names another. The test is skipped,
// saying so, when there is none.
func lookNewGit(t *testing.T) (gitBin, execPath string) {
	t.Helper()
	var dirs []string
	if d := os.Getenv(envGitDir); d != "" {
		dirs = append(dirs, d)
	}
	for _, args := range [][]string{{"--show-toplevel"}, {"--path-format=absolute", "--git-common-dir"}} {
		out, err := exec.Command("git", append([]string{"rev-parse"}, args...)...).Output()
		if err != nil {
			continue
		}
		root := strings.TrimSpace(string(out))
		if args[0] != "--show-toplevel" {
			root = filepath.Dir(root) // the main checkout holds .git
		}
		dirs = append(dirs, filepath.Join(root, "..", "shared", "tools", "git-2.47"))
	}
	if gitBin, v := lookGit(t); v[0] > 2 || v[0] == 2 && v[1] >= 46 {
		return gitBin, ""
	}
	for _, d := range dirs {
		gitBin := filepath.Join(d, "bin", "git")
		execPath := filepath.Join(d, "libexec", "git-core")
		if _, err := os.Stat(gitBin); err != nil {
			continue
		}
		if v := gitVersion(t, gitBin, []string{"GIT_EXEC_PATH=" + execPath}); v[0] < 2 || v[0] == 2 && v[1] < 46 {
			t.Fatalf("%s is git %d.%d, want 2.46 or newer", gitBin, v[0], v[1])
		}
		return gitBin, execPath
	}
	t.Skipf("no git 2.46+ found (the system git is older; looked in %s, set %s to a git install directory): the authtype end-to-end tests need one; internal/gitcred's unit tests cover the protocol",
		strings.Join(dirs, ", "), envGitDir)
	return "", ""
}

// bareRepo creates root/repo.git with one commit on main and returns root.
func bareRepo(t *testing.T, gitBin string, env []string) string {
	t.Helper()
	root, work := t.TempDir(), t.TempDir()
	bare := filepath.Join(root, "repo.git")
	mustGit(t, gitBin, root, env, "init", "--quiet", "--bare", "--initial-branch=main", bare)
	mustGit(t, gitBin, work, env, "init", "--quiet", "--initial-branch=main")
	if err := os.WriteFile(filepath.Join(work, "README"), []byte("hello from dt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustGit(t, gitBin, work, env, "add", "README")
	mustGit(t, gitBin, work, env, "commit", "--quiet", "-m", "first")
	mustGit(t, gitBin, work, env, "push", "--quiet", bare, "main")
	return root
}

// withHelper is the git options that make git use only our helper: the empty
// value clears any helper configured before it.
func withHelper(helper string) []string {
	return []string{"-c", "credential.helper=", "-c", "credential.helper=" + helper}
}

func TestGitCloneWithHelper(t *testing.T) {
	gitBin, _ := lookGit(t)
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	setup := gitEnv(t, idp.TokenURL())
	srv := newGitServer(t, gitBin, idp, bareRepo(t, gitBin, setup))
	u, _ := url.Parse(srv.URL)
	env := gitEnv(t, idp.TokenURL(), "DT_CREDENTIAL_HOSTS="+u.Host)
	remote := srv.URL + "/repo.git"

	// Without a helper the server refuses git: the check below can fail.
	r := runGitCmd(t, gitBin, t.TempDir(), env, "", append(withHelper(""), "ls-remote", remote)...)
	if r.code == 0 {
		t.Fatalf("git ls-remote without a helper succeeded; the server does not check credentials")
	}

	// The second clone passes flags through git's helper string, as
	// credential.helper "dt --profile prod" would.
	for i, helper := range []string{"dt", "dt --timeout 20s"} {
		dir := t.TempDir()
		args := append(withHelper(helper), "clone", "--quiet", remote, "clone")
		if r := runGitCmd(t, gitBin, dir, env, "", args...); r.code != 0 {
			t.Fatalf("clone %d: exit %d\n%s", i+1, r.code, r.stderr)
		}
		b, err := os.ReadFile(filepath.Join(dir, "clone", "README"))
		if err != nil || string(b) != "hello from dt\n" {
			t.Fatalf("clone %d: README %q, %v", i+1, b, err)
		}
	}
	accepted, _ := srv.seen()
	if len(accepted) != 1 || !idp.Valid(accepted[0]) {
		t.Errorf("server accepted %d distinct tokens, want 1 valid token for both clones", len(accepted))
	}
	if n := idp.Requests(); n != 1 {
		t.Errorf("%d token requests for two clones, want 1 (the second from the cache)", n)
	}
}

// TestGitRejectedToken: when the server refuses a token, git calls
// `git-credential-dt erase` with it, which drops it from the cache, so the
// next `get` fetches a new one. git 2.39 does not ask again within the same
// command (http.c: a 401 with credentials already sent is credential_reject
// and "Authentication failed"); the next git command gets the new token.
func TestGitRejectedToken(t *testing.T) {
	gitBin, _ := lookGit(t)
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	setup := gitEnv(t, idp.TokenURL())
	srv := newGitServer(t, gitBin, idp, bareRepo(t, gitBin, setup))
	u, _ := url.Parse(srv.URL)
	env := gitEnv(t, idp.TokenURL(), "DT_CREDENTIAL_HOSTS="+u.Host)
	args := append(withHelper("dt"), "ls-remote", srv.URL+"/repo.git")

	srv.rejectOnce()
	first := runGitCmd(t, gitBin, t.TempDir(), env, "", args...)
	_, rejected := srv.seen()
	if len(rejected) != 1 {
		t.Fatalf("server refused %d tokens, want 1 (exit %d)\n%s", len(rejected), first.code, first.stderr)
	}
	// The emulator still considers it valid: only the git server refused it,
	// so only erase can explain a new token below.
	if !idp.Valid(rejected[0]) {
		t.Fatalf("the refused token is not valid at the emulator")
	}
	if first.code == 0 {
		// A git that asks again within one command: the second ask must
		// already have had a new token.
		t.Logf("git re-asked within one command after erase")
	} else {
		t.Logf("git gave up after erase, as git 2.39 does: exit %d: %s", first.code, strings.TrimSpace(first.stderr))
		if n := idp.Requests(); n != 1 {
			t.Errorf("%d token requests after the refused command, want 1", n)
		}
		second := runGitCmd(t, gitBin, t.TempDir(), env, "", args...)
		if second.code != 0 || !strings.Contains(second.stdout, "refs/heads/main") {
			t.Fatalf("ls-remote after erase: exit %d, stdout %q\n%s", second.code, second.stdout, second.stderr)
		}
	}
	accepted, _ := srv.seen()
	if len(accepted) != 1 || accepted[0] == rejected[0] || !idp.Valid(accepted[0]) {
		t.Errorf("after erase the server accepted %d tokens (same as the refused one: %v), want 1 new valid token",
			len(accepted), len(accepted) > 0 && accepted[0] == rejected[0])
	}
	if n := idp.Requests(); n != 2 {
		t.Errorf("%d token requests, want 2: erase must drop the refused token from the cache", n)
	}
}

// gitFill runs `git credential fill` with our helper only and returns git's
// result; the input is attribute lines without the final blank line.
func gitFill(t *testing.T, gitBin string, env []string, input string) result {
	t.Helper()
	return runGitCmd(t, gitBin, t.TempDir(), env, input+"\n", append(withHelper("dt"), "credential", "fill")...)
}

func gitAttrs(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

func TestGitCredentialFill(t *testing.T) {
	gitBin, _ := lookGit(t)
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env := gitEnv(t, idp.TokenURL())

	r := gitFill(t, gitBin, env, "protocol=https\nhost=api.d21s.com\n")
	got := gitAttrs(r.stdout)
	if r.code != 0 || got["username"] != "oauth2accesstoken" || !idp.Valid(got["password"]) {
		t.Fatalf("fill for api.d21s.com: exit %d, attributes %v\n%s", r.code, attrNames(got), r.stderr)
	}
	if n := idp.Requests(); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
	// Port 443 is https's default port: the same server, the cached token.
	r = gitFill(t, gitBin, env, "protocol=https\nhost=api.d21s.com:443\n")
	if again := gitAttrs(r.stdout); r.code != 0 || again["password"] != got["password"] {
		t.Fatalf("fill for api.d21s.com:443: exit %d, attributes %v, same token %v\n%s", r.code, attrNames(again), again["password"] == got["password"], r.stderr)
	}

	// With no credential from any helper and no prompt allowed, git fails;
	// what matters is that no token was fetched and none was printed.
	for _, tt := range []struct{ name, input string }{
		{"other host", "protocol=https\nhost=example.com\n"},
		{"DT host with a port", "protocol=https\nhost=api.d21s.com:8443\n"},
		{"DT host on http's port over https", "protocol=https\nhost=api.d21s.com:80\n"},
		{"plain http to a DT host's port 80", "protocol=http\nhost=api.d21s.com:80\n"},
		{"plain http to a DT host", "protocol=http\nhost=api.d21s.com\n"},
		{"DT host look-alike", "protocol=https\nhost=api.d21s.com.example.com\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := gitFill(t, gitBin, env, tt.input)
			if strings.Contains(r.stdout, "password=") || strings.Contains(r.stdout, got["password"]) {
				t.Errorf("git got a credential: exit %d, stdout has password", r.code)
			}
			if n := idp.Requests(); n != 1 {
				t.Errorf("%d token requests, want still 1", n)
			}
		})
	}
}

func attrNames(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestGitBearer needs git 2.46+, the first to send capability[]=authtype;
// internal/gitcred's unit tests cover the protocol on any git.
func TestGitBearer(t *testing.T) {
	gitBin, execPath := lookNewGit(t)
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env := gitEnv(t, idp.TokenURL(), "GIT_EXEC_PATH="+execPath)
	r := gitFill(t, gitBin, env, "capability[]=authtype\nprotocol=https\nhost=api.d21s.com\n")
	got := gitAttrs(r.stdout)
	if r.code != 0 || got["authtype"] != "Bearer" || !idp.Valid(got["credential"]) || got["password"] != "" {
		t.Fatalf("fill with capability[]=authtype: exit %d, attributes %v\n%s", r.code, attrNames(got), r.stderr)
	}
}

// TestGitAuthSchemes clones over smart HTTP with the real git from servers
// that take Basic only, Bearer only, or both. git 2.46+ says it can take a
// bearer credential and passes on the server's challenges: it must get a
// Bearer credential only where the server offered Bearer, or a server that
// worked with an older git breaks when git is upgraded. The system git
// (older than 2.46 here) knows only username and password.
func TestGitAuthSchemes(t *testing.T) {
	sysGit, sysVersion := lookGit(t)
	newGit, execPath := lookNewGit(t)
	newVersion := gitVersion(t, newGit, []string{"GIT_EXEC_PATH=" + execPath})
	t.Logf("system git %d.%d at %s; git %d.%d at %s", sysVersion[0], sysVersion[1], sysGit, newVersion[0], newVersion[1], newGit)
	type gitCase struct {
		name, bin, execPath string
		old                 bool // before 2.46: no capability[]=authtype
	}
	sys := gitCase{"system git", sysGit, "", sysVersion[0] < 2 || sysVersion[0] == 2 && sysVersion[1] < 46}
	recent := gitCase{"git 2.46+", newGit, execPath, false}
	// A server that takes both gets Bearer from a git that can send it.
	sysBoth := "Bearer"
	if sys.old {
		sysBoth = "Basic"
	}
	tests := []struct {
		git     gitCase
		schemes []string
		want    string // the scheme the server must have been sent
	}{
		{recent, []string{"Basic"}, "Basic"},
		{recent, []string{"Bearer"}, "Bearer"},
		{recent, []string{"Basic", "Bearer"}, "Bearer"},
		{sys, []string{"Basic"}, "Basic"},
		{sys, []string{"Basic", "Bearer"}, sysBoth},
	}
	for _, tt := range tests {
		t.Run(tt.git.name+" "+strings.Join(tt.schemes, "+"), func(t *testing.T) {
			idp := authtest.NewServer(testAccount)
			defer idp.Close()
			setup := gitEnv(t, idp.TokenURL())
			srv := newGitServerSchemes(t, sysGit, idp, bareRepo(t, sysGit, setup), tt.schemes...)
			u, _ := url.Parse(srv.URL)
			env := gitEnv(t, idp.TokenURL(), "DT_CREDENTIAL_HOSTS="+u.Host)
			if tt.git.execPath != "" {
				env = withEnv(env, "GIT_EXEC_PATH="+tt.git.execPath)
			}
			dir := t.TempDir()
			r := runGitCmd(t, tt.git.bin, dir, env, "", append(withHelper("dt"), "clone", "--quiet", srv.URL+"/repo.git", "clone")...)
			if r.code != 0 {
				t.Fatalf("clone: exit %d\n%s", r.code, r.stderr)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "clone", "README")); err != nil || string(b) != "hello from dt\n" {
				t.Fatalf("clone: README %q, %v", b, err)
			}
			if got := srv.schemesUsed(); !slices.Equal(got, []string{tt.want}) {
				t.Errorf("server was sent %v, want %s only", got, tt.want)
			}
			if n := idp.Requests(); n != 1 {
				t.Errorf("%d token requests, want 1", n)
			}
		})
	}
}

// TestInstallScript installs into a temporary prefix and runs the links.
func TestInstallScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary again")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	prefix := filepath.Join(t.TempDir(), "prefix with space")
	cmd := exec.Command("bash", filepath.Join("..", "..", "scripts", "install.sh"), prefix)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	bin := filepath.Join(prefix, "bin")
	for _, want := range []string{filepath.Join(bin, prog), filepath.Join(bin, pluginProg), "PATH"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("install.sh output does not mention %q:\n%s", want, out)
		}
	}
	for _, name := range []string{prog, pluginProg} {
		// 0755: the helper refuses a plugin's program others may write.
		if fi, err := os.Lstat(filepath.Join(bin, name)); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o755 {
			t.Fatalf("%s: %v, want an executable file, mode 0755", name, err)
		}
	}
	for _, link := range []string{gitHelperName, dockerHelperName} {
		target, err := os.Readlink(filepath.Join(bin, link))
		if err != nil || target != prog {
			t.Errorf("%s: link to %q, %v; want a link to %s", link, target, err, prog)
		}
	}

	env := baseEnv(t, "http://127.0.0.1:1/oauth2/token") // never reached
	run := func(name, stdin string, args ...string) result {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Env, cmd.Stdin = env, strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("%s: %v", name, err)
		}
		return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	}
	if r := run(gitHelperName, "protocol=https\nhost=example.com\n\n", "get"); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("%s get for a non-DT host: exit %d, stdout %q, stderr %q; want nothing, exit 0", gitHelperName, r.code, r.stdout, r.stderr)
	}
	if r := run(dockerHelperName, "https://registry.example.com", "get"); r.code != 1 || r.stdout != "credentials not found in native keychain\n" {
		t.Errorf("%s get for a non-DT host: exit %d, stdout %q", dockerHelperName, r.code, r.stdout)
	}
	if r := run(prog, "", "version"); r.code != 0 || !strings.HasPrefix(r.stdout, prog+" ") {
		t.Errorf("version: exit %d, stdout %q", r.code, r.stdout)
	}
	// A host launching the installed helper is served, by the plugin's
	// program installed next to it.
	p := startPluginCmd(t, exec.Command(filepath.Join(bin, prog), "plugin"), pluginEnv(t, "http://127.0.0.1:1/oauth2/token"))
	if line := p.handshake(t); !handshakeLine.MatchString(line) {
		t.Errorf("the installed helper, launched as a host does: first stdout line %q is not go-plugin's gRPC handshake", line)
	}
}
