package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/plugin"
)

// TestNoSecretLeaks runs every command and role of the built binary, with
// --verbose wherever it is accepted, through success and every class of
// token endpoint failure, and then searches everything the binary could
// have shown or written for the secret, for assertions and for access
// tokens: stdout, stderr, the plugin host's log, every file under the
// test's HOME, and the argv (/proc/PID/cmdline) of every process it
// started, read while a deliberately slow token request is in flight.
//
// The DT identity service cannot run here: the in-process emulator
// (auth/authtest) stands in for it, and a small echo server stands in for a
// misbehaving one that sends the request's assertion back. login, status
// with a profile and logout need a real Secret Service (scripts/
// keyring-session.sh); without one the "keyring" subtest is skipped, and with
// DT_TEST_SECRET_SERVICE=1 but no usable keyring it fails.
//
// Failure messages never show the secret, a token or an assertion: only
// what was found, where, and at which byte.
func TestNoSecretLeaks(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("no /proc: cannot read other processes' argv here")
	}
	secret := "LEAKCANARY-" + leakRandom(12)
	wrongSecret := secret + "-WRONG"
	acct := authtest.Account{KeyID: "leak-key-" + leakRandom(4), Email: "leak@project.serviceaccount.d21s.com", Secret: secret}
	srv := authtest.NewServer(acct)
	t.Cleanup(srv.Close)
	echo := &leakEcho{}
	echoSrv := httptest.NewServer(echo)
	t.Cleanup(echoSrv.Close)

	home := t.TempDir()
	dirs := leakDirs{
		home:     home,
		config:   filepath.Join(home, "config"),
		xdgCache: filepath.Join(home, "xdg-cache"),
		cache:    filepath.Join(home, "cache"),
	}
	links := helperLinks(t)
	env := []string{
		"PATH=" + links + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + dirs.home,
		"XDG_CONFIG_HOME=" + dirs.config,
		"XDG_CACHE_HOME=" + dirs.xdgCache,
		"DT_CACHE_DIR=" + dirs.cache,
		"DT_TOKEN_CACHE=file",
		"DT_PROFILE=",
		"DT_CREDENTIALS_FILE=",
		"DT_CREDENTIAL_HOSTS=",
		"KUBERNETES_EXEC_INFO=",
		"LC_ALL=C",
		"DT_SERVICE_ACCOUNT_KEY_ID=" + acct.KeyID,
		"DT_SERVICE_ACCOUNT_EMAIL=" + acct.Email,
		"DT_SERVICE_ACCOUNT_SECRET=" + secret,
		"DT_TOKEN_ENDPOINT=" + srv.TokenURL(),
	}
	rec := &leakRecorder{}
	self := binary
	gitLink := filepath.Join(links, gitHelperName)
	dockerLink := filepath.Join(links, dockerHelperName)
	const dtHost = "api.disruptive-technologies.com"
	gitGet := "protocol=https\nhost=" + dtHost + "\n\n"
	gitGetAuthtype := "capability[]=authtype\nprotocol=https\nhost=" + dtHost + "\n\n"
	dockerURL := "https://" + dtHost + "\n"

	// Every command and role, succeeding. The first call fetches the token;
	// the rest are served from the cache unless they force a refresh.
	first := rec.run(t, leakCmd{name: "token -o token", path: self, env: env, args: []string{"token", "-o", "token", "--verbose"}, tokenOut: true, want: 0})
	tok := strings.TrimSpace(first.stdout)
	if !srv.Valid(tok) {
		t.Fatalf("token -o token did not print a valid token (exit %d); stderr:\n%s", first.code, leakHide(first.stderr, secret))
	}
	gitStore := fmt.Sprintf("protocol=https\nhost=%s\nusername=oauth2accesstoken\npassword=%s\n\n", dtHost, tok)
	sweep := []leakCmd{
		{name: "token -o json", args: []string{"token", "-o", "json", "--verbose"}, tokenOut: true},
		{name: "token -o exec-credential", args: []string{"token", "-o", "exec-credential", "--verbose"}, tokenOut: true},
		{name: "token -o header", args: []string{"token", "--output", "header", "--verbose"}, tokenOut: true},
		{name: "token under kubectl", args: []string{"token", "--verbose"}, tokenOut: true,
			env: []string{`KUBERNETES_EXEC_INFO={"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}`}},
		{name: "flags only (token)", args: []string{"--verbose", "-o", "token"}, tokenOut: true},
		{name: "token --force-refresh", args: []string{"token", "-o", "token", "--verbose", "--force-refresh"}, tokenOut: true},
		{name: "token --cache none", args: []string{"token", "-o", "token", "--verbose", "--cache", "none"}, tokenOut: true},
		{name: gitHelperName + " get", path: gitLink, args: []string{"--verbose", "get"}, stdin: gitGet, tokenOut: true},
		{name: gitHelperName + " get (authtype)", path: gitLink, args: []string{"--verbose", "get"}, stdin: gitGetAuthtype, tokenOut: true},
		{name: gitHelperName + " get (other host)", path: gitLink, args: []string{"--verbose", "get"}, stdin: "protocol=https\nhost=example.com\n\n", tokenOut: true},
		{name: gitHelperName + " store", path: gitLink, args: []string{"--verbose", "store"}, stdin: gitStore},
		{name: gitHelperName + " store (malformed)", path: gitLink, args: []string{"--verbose", "store"}, stdin: "password" + tok + "\n\n", want: -1},
		{name: "git get", args: []string{"git", "--verbose", "get"}, stdin: gitGet, tokenOut: true},
		{name: "git store", args: []string{"git", "--verbose", "store"}, stdin: gitStore},
		{name: "git erase", args: []string{"git", "--verbose", "erase"}, stdin: gitStore},
		{name: "git get after erase", args: []string{"git", "--verbose", "get"}, stdin: gitGetAuthtype, tokenOut: true},
		{name: gitHelperName + " erase", path: gitLink, args: []string{"--verbose", "erase"}, stdin: gitStore},
		{name: dockerHelperName + " get", path: dockerLink, args: []string{"--verbose", "get"}, stdin: dockerURL, tokenOut: true},
		{name: dockerHelperName + " get (other host)", path: dockerLink, args: []string{"--verbose", "get"}, stdin: "https://example.com\n", want: 1},
		{name: dockerHelperName + " store", path: dockerLink, args: []string{"--verbose", "store"},
			stdin: fmt.Sprintf(`{"ServerURL":"https://%s","Username":"oauth2accesstoken","Secret":%q}`, dtHost, tok)},
		{name: dockerHelperName + " store (malformed)", path: dockerLink, args: []string{"--verbose", "store"},
			stdin: fmt.Sprintf(`{"ServerURL":"https://%s","Secret":%q`, dtHost, tok), want: -1},
		{name: dockerHelperName + " list", path: dockerLink, args: []string{"--verbose", "list"}},
		{name: dockerHelperName + " version", path: dockerLink, args: []string{"--verbose", "version"}},
		{name: dockerHelperName + " erase", path: dockerLink, args: []string{"--verbose", "erase"}, stdin: dockerURL},
		{name: "docker get", args: []string{"docker", "--verbose", "get"}, stdin: dockerURL, tokenOut: true},
		{name: "docker store", args: []string{"docker", "--verbose", "store"},
			stdin: fmt.Sprintf(`{"ServerURL":"https://%s","Username":"oauth2accesstoken","Secret":%q}`, dtHost, tok)},
		{name: "docker list", args: []string{"docker", "--verbose", "list"}},
		{name: "docker version", args: []string{"docker", "--verbose", "version"}},
		{name: "docker erase", args: []string{"docker", "--verbose", "erase"}, stdin: dockerURL},
		{name: "exec", args: []string{"exec", "--verbose", "--", "sh", "-c", "true"}},
		{name: "exec (command fails)", args: []string{"exec", "--verbose", "--", "sh", "-c", "exit 3"}, want: 3},
		{name: "status", args: []string{"status", "--verbose"}},
		{name: "version", args: []string{"version"}},
		{name: "--version", args: []string{"--version"}},
		{name: "--help", args: []string{"--help"}},
		{name: "token --help", args: []string{"token", "--help"}},
		{name: "exec --help", args: []string{"exec", "--help"}},
		{name: "login --help", args: []string{"login", "--help"}},
		{name: "status --help", args: []string{"status", "--help"}},
		{name: "unknown flag", args: []string{"token", "--verbose", "--nope"}, want: 2},
		{name: "secret flag refused", args: []string{"token", "--verbose", "--secret", secret}, want: 2},
	}
	for _, c := range sweep {
		if c.path == "" {
			c.path = self
		}
		c.env = withEnv(env, c.env...)
		rec.run(t, c)
	}
	// The "secret flag refused" run put the secret in its own argv on
	// purpose: that is the caller's doing, not a leak, so that process's
	// argv samples are dropped; its output is still searched.
	rec.dropProcs("secret flag refused")

	// While a slow token request is in flight, the argv of every process the
	// binary runs as (and of exec's command) is read from /proc.
	tok = strings.TrimSpace(rec.run(t, leakCmd{name: "token -o token", path: self, env: env, args: []string{"token", "-o", "token"}, tokenOut: true}).stdout)
	for _, c := range []leakCmd{
		{name: "slow token", path: self, args: []string{"token", "-o", "token", "--verbose", "--force-refresh"}, tokenOut: true},
		{name: "slow " + gitHelperName + " get", path: gitLink, args: []string{"--verbose", "--force-refresh", "get"}, stdin: gitGet, tokenOut: true},
		{name: "slow " + dockerHelperName + " get", path: dockerLink, args: []string{"--verbose", "--force-refresh", "get"}, stdin: dockerURL, tokenOut: true},
		{name: "slow exec", path: self, args: []string{"exec", "--verbose", "--force-refresh", "--", "sh", "-c", "sleep 1; true"}, wantChild: "sh"},
	} {
		srv.Inject(authtest.Fault{Delay: time.Second})
		c.env = env
		c.slow = true
		rec.run(t, c)
	}
	srv.ClearFaults()

	// Each failure class, with no cache (the plain error) and with a valid
	// cached token under --force-refresh (where a transient failure serves
	// the cached token with a warning).
	tok = strings.TrimSpace(rec.run(t, leakCmd{name: "token -o token", path: self, env: env, args: []string{"token", "-o", "token"}, tokenOut: true}).stdout)
	closed := leakClosedPort(t)
	jwt, err := auth.Assertion(auth.Credentials{KeyID: acct.KeyID, Email: acct.Email, Secret: secret, TokenEndpoint: srv.TokenURL()}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	echoURL := func(kind string) string { return echoSrv.URL + "/" + kind + "/oauth2/token" }
	failures := []struct {
		name  string
		fault *authtest.Fault
		env   []string
	}{
		{name: "wrong secret", env: []string{"DT_SERVICE_ACCOUNT_SECRET=" + wrongSecret}},
		{name: "500 always", fault: &authtest.Fault{Status: 500, Body: `{"error":"server_error","error_description":"try again"}`}},
		{name: "connection refused", env: []string{"DT_TOKEN_ENDPOINT=http://" + closed + "/oauth2/token"}},
		{name: "HTML 200", fault: &authtest.Fault{Status: 200, ContentType: "text/html", Body: "<html><body><h1>Sign in</h1></body></html>"}},
		{name: "malformed JSON", fault: &authtest.Fault{Status: 200, Body: `{"access_token":`}},
		{name: "malformed JSON with a token", fault: &authtest.Fault{Status: 200, Body: fmt.Sprintf(`{"access_token":%q,"token_type":"bearer","expires_in":3600,}`, tok)}},
		{name: "200 echoing a JWT", fault: &authtest.Fault{Status: 200, Body: fmt.Sprintf(`{"token_type":"bearer","assertion_received":%q,"note":"grant_type=x&assertion=%s"}`, jwt, jwt)}},
		{name: "200 HTML echoing a JWT", fault: &authtest.Fault{Status: 200, ContentType: "text/html", Body: "<html><pre>assertion=" + jwt + "</pre></html>"}},
		{name: "400 with the access token", fault: &authtest.Fault{Status: 400, Body: fmt.Sprintf(`{"error":"invalid_grant","error_description":"token %s is not a grant","access_token":%q}`, tok, tok)}},
		{name: "400 HTML with the access token", fault: &authtest.Fault{Status: 400, ContentType: "text/html", Body: "<html>Bearer " + tok + " refused</html>"}},
		{name: "400 echoing the secret", fault: &authtest.Fault{Status: 400, Body: fmt.Sprintf(`{"error":%q,"error_description":%q,"error_uri":%q}`, secret, "secret "+secret, "https://example.com/?s="+secret)}},
		{name: "echo server: 200 JSON with the assertion", env: []string{"DT_TOKEN_ENDPOINT=" + echoURL("json")}},
		{name: "echo server: 200 HTML with the request", env: []string{"DT_TOKEN_ENDPOINT=" + echoURL("html")}},
		{name: "echo server: 400 describing the assertion", env: []string{"DT_TOKEN_ENDPOINT=" + echoURL("describe")}},
		{name: "echo server: 400 with the assertion as error code", env: []string{"DT_TOKEN_ENDPOINT=" + echoURL("code")}},
	}
	for _, f := range failures {
		srv.ClearFaults()
		if f.fault != nil {
			srv.InjectAlways(*f.fault)
		}
		fenv := withEnv(env, f.env...)
		cmds := []leakCmd{
			{name: "token --cache none", path: self, args: []string{"token", "-o", "token", "--verbose", "--timeout", "2s", "--cache", "none"}},
			{name: "token --force-refresh", path: self, args: []string{"token", "-o", "token", "--verbose", "--timeout", "2s", "--force-refresh"}, tokenOut: true},
			{name: gitHelperName + " get", path: gitLink, args: []string{"--verbose", "--timeout", "2s", "--cache", "none", "get"}, stdin: gitGet},
			{name: dockerHelperName + " get", path: dockerLink, args: []string{"--verbose", "--timeout", "2s", "--cache", "none", "get"}, stdin: dockerURL},
			{name: "exec", path: self, args: []string{"exec", "--verbose", "--timeout", "2s", "--cache", "none", "--", "sh", "-c", "true"}},
			{name: "login", path: self, args: []string{"login", "--verbose", "--timeout", "2s", "--profile", "leak-unverified", "--key-id", acct.KeyID, "--email", acct.Email,
				"--token-endpoint", envValue(fenv, "DT_TOKEN_ENDPOINT")}, stdin: envValue(fenv, "DT_SERVICE_ACCOUNT_SECRET") + "\n"},
		}
		// A class's commands run at once: each waits out its deadline on
		// a transient failure, and none depends on another (one refreshes
		// the cache, the rest bypass it). The group ends before the next
		// class changes the emulator's fault.
		t.Run(f.name, func(t *testing.T) {
			for _, c := range cmds {
				short := c.name
				c.name = f.name + ": " + c.name
				c.env = fenv
				// A transient failure under --force-refresh serves the
				// cached token; anything else fails.
				c.want = -1
				if !c.tokenOut {
					c.want = -2 // any failure
				}
				t.Run(short, func(t *testing.T) {
					t.Parallel()
					rec.run(t, c)
				})
			}
		})
	}
	srv.ClearFaults()
	if len(echo.seen()) == 0 {
		t.Error("the echo server saw no assertion: its failure classes did not run")
	}

	leakPlugin(t, rec, srv, env, tok)

	// A subtest of its own, so a run without a Secret Service says it
	// skipped this part instead of passing it.
	t.Run("keyring", func(t *testing.T) { leakKeyring(t, rec, srv, env, secret) })

	// Every file the binary or the plugin wrote.
	rec.addFiles(t, dirs)

	// What must never show anywhere, and what may show only where asked for.
	secrets := leakEncodings(secret, wrongSecret)
	var tokens []string
	for _, info := range srv.Tokens() {
		tokens = append(tokens, info.Token)
	}
	assertions := echo.seen()
	rec.check(t, secrets, assertions, tokens)
}

// leakDirs are the directories the binary under test may write to.
type leakDirs struct{ home, config, xdgCache, cache string }

// leakCmd is one run of the binary.
type leakCmd struct {
	name  string
	path  string // the binary, or a helper-name symlink to it
	args  []string
	env   []string // for the sweep: additions to the base environment
	stdin string
	// tokenOut: stdout is this command's way of handing over the token, so
	// the token may appear there when it succeeds.
	tokenOut bool
	// want is the exit code: -1 any, -2 any but 0.
	want int
	// slow: a token request is delayed; the process must have been seen
	// (and its argv read) while it ran.
	slow bool
	// wantChild names a command the process runs (exec's) whose argv must
	// have been read too.
	wantChild string
}

type leakResult struct {
	code           int
	stdout, stderr string
}

// leakOutput is something the binary showed or wrote, to be searched.
type leakOutput struct {
	source  string
	text    string
	tokenOK bool // the access token is this output's purpose
}

// leakProc is one process's argv as read from /proc while it ran.
type leakProc struct {
	source string
	pid    int
	argv   string // NUL-separated, as in /proc/PID/cmdline
}

type leakRecorder struct {
	mu      sync.Mutex
	outputs []leakOutput
	procs   []leakProc
}

func (r *leakRecorder) add(source, text string, tokenOK bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outputs = append(r.outputs, leakOutput{source: source, text: text, tokenOK: tokenOK})
}

func (r *leakRecorder) addProcs(source string, ps []leakProc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range ps {
		p.source = source
		r.procs = append(r.procs, p)
	}
}

func (r *leakRecorder) dropProcs(source string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.procs[:0]
	for _, p := range r.procs {
		if p.source != source {
			kept = append(kept, p)
		}
	}
	r.procs = kept
}

// run runs c, bounded in time, reading the argv of it and its descendants
// from /proc until it exits, and records its output.
func (r *leakRecorder) run(t *testing.T, c leakCmd) leakResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.path, c.args...)
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(c.stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	procs := leakWatch(cmd.Process.Pid, done)
	res := leakResult{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := waitErr.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if waitErr != nil {
		t.Fatalf("%s: %v", c.name, waitErr)
	}
	if ctx.Err() != nil {
		t.Errorf("%s: still running after 30s; killed", c.name)
	}
	r.add(c.name+": stdout", res.stdout, c.tokenOut && res.code == 0)
	r.add(c.name+": stderr", res.stderr, false)
	r.addProcs(c.name, procs)

	switch {
	case c.want == -1:
	case c.want == -2 && res.code == 0:
		t.Errorf("%s: exit 0, want a failure", c.name)
	case c.want >= 0 && res.code != c.want:
		t.Errorf("%s: exit %d, want %d (stderr %d bytes)", c.name, res.code, c.want, len(res.stderr))
	}
	if c.slow && !leakSaw(procs, cmd.Process.Pid, "") {
		t.Errorf("%s: the process's argv was never read while it ran", c.name)
	}
	if c.wantChild != "" && !leakSaw(procs, 0, c.wantChild) {
		t.Errorf("%s: the argv of its command %s was never read while it ran", c.name, c.wantChild)
	}
	return res
}

// leakSaw reports whether procs holds a non-empty argv of pid (0: any) whose
// argv[0] has base name argv0 ("": any).
func leakSaw(procs []leakProc, pid int, argv0 string) bool {
	for _, p := range procs {
		if p.argv == "" || (pid != 0 && p.pid != pid) {
			continue
		}
		first, _, _ := strings.Cut(p.argv, "\x00")
		if argv0 == "" || filepath.Base(first) == argv0 {
			return true
		}
	}
	return false
}

// leakWatch reads the argv of root and of all its descendants every few
// milliseconds until done is closed, and returns each distinct one seen.
func leakWatch(root int, done <-chan struct{}) []leakProc {
	seen := map[leakProc]bool{}
	var out []leakProc
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, pid := range leakTree(root) {
			b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			if err != nil || len(b) == 0 {
				continue
			}
			p := leakProc{pid: pid, argv: strings.TrimSuffix(string(b), "\x00")}
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
		select {
		case <-done:
			return out
		case <-tick.C:
		}
	}
}

// leakTree returns root and its descendants, from /proc/*/stat.
func leakTree(root int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return []int{root}
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		children[ppid] = append(children[ppid], pid)
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// leakPlugin launches the binary as a go-plugin host does, with the host's
// log in a buffer, and has it fetch (slowly, once), serve, invalidate and
// fail to fetch tokens.
func leakPlugin(t *testing.T, rec *leakRecorder, srv *authtest.Server, env []string, tok string) {
	t.Helper()
	logs := &testutil.Buffer{}
	p, stop, err := plugin.Launch(plugin.LaunchConfig{
		Path:         binary,
		Args:         []string{"plugin", "--verbose", "--timeout", "3s"},
		Env:          env,
		Logger:       hclog.New(&hclog.LoggerOptions{Name: "host", Output: logs, Level: hclog.Trace}),
		StartTimeout: 20 * time.Second,
	})
	if err != nil {
		rec.add("plugin host log", logs.String(), false)
		t.Errorf("launching the plugin: %v", err)
		return
	}
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	pid := 0
	if pp, ok := p.(interface{ Pid() int }); ok {
		pid = pp.Pid()
	}
	if pid == 0 {
		pid = leakChildRunning(binary)
	}
	if pid == 0 {
		t.Error("plugin: cannot find the plugin process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A slow GetToken, while the plugin's argv is read.
	srv.Inject(authtest.Fault{Delay: time.Second})
	done := make(chan struct{})
	var slowErr error
	go func() {
		_, slowErr = p.GetToken(ctx, "", true)
		close(done)
	}()
	if pid != 0 {
		procs := leakWatch(pid, done)
		rec.addProcs("plugin", procs)
		if !leakSaw(procs, pid, "") {
			t.Error("plugin: its argv was never read during the slow GetToken")
		}
	}
	<-done
	if slowErr != nil {
		t.Errorf("plugin: slow GetToken: %v", leakHide(slowErr.Error(), tok))
	}
	got, err := p.GetToken(ctx, "", false)
	if err != nil {
		t.Errorf("plugin: GetToken: %v", err)
	} else if err := p.InvalidateToken(ctx, "", got.AccessToken); err != nil {
		t.Errorf("plugin: InvalidateToken: %v", err)
	}
	if _, err := p.GetToken(ctx, "", false); err != nil {
		t.Errorf("plugin: GetToken after InvalidateToken: %v", err)
	}
	current, err := p.GetToken(ctx, "", false)
	if err != nil {
		t.Fatalf("plugin: GetToken: %v", err)
	}
	// Failing GetTokens: each error, as the host sees it, is searched too.
	for _, f := range []struct {
		name    string
		fault   authtest.Fault
		profile string
		// mayServe: a transient failure serves the cached token.
		mayServe bool
	}{
		{name: "400 invalid_grant", fault: authtest.ErrorFault(400, "invalid_grant", "assertion signature is invalid")},
		{name: "400 with the access token", fault: authtest.Fault{Status: 400, Body: fmt.Sprintf(`{"error":"invalid_grant","error_description":"token %s is not a grant","access_token":%q}`, current.AccessToken, current.AccessToken)}},
		{name: "400 HTML with the access token", fault: authtest.Fault{Status: 400, ContentType: "text/html", Body: "<html>Bearer " + current.AccessToken + " refused</html>"}},
		{name: "malformed JSON with a token", fault: authtest.Fault{Status: 200, Body: fmt.Sprintf(`{"access_token":%q,}`, current.AccessToken)}},
		{name: "500 always", fault: authtest.Fault{Status: 500, Body: `{"error":"server_error"}`}, mayServe: true},
		{name: "unknown profile", profile: "leak-no-such-profile"},
	} {
		srv.ClearFaults()
		if f.fault != (authtest.Fault{}) {
			srv.InjectAlways(f.fault)
		}
		fctx, fcancel := context.WithTimeout(ctx, 15*time.Second)
		_, err := p.GetToken(fctx, f.profile, true)
		fcancel()
		if err == nil {
			if !f.mayServe {
				t.Errorf("plugin: GetToken with %s succeeded, want an error", f.name)
			}
			continue
		}
		rec.add("plugin: GetToken with "+f.name+": error", err.Error(), false)
	}
	srv.ClearFaults()
	if err := p.InvalidateToken(ctx, "", current.AccessToken); err != nil {
		rec.add("plugin: InvalidateToken: error", err.Error(), false)
	}
	stop()
	stopped = true
	rec.add("plugin host log", logs.String(), false)
}

// leakChildRunning finds a child of this process running path, for a
// provider without a Pid method.
func leakChildRunning(path string) int {
	for _, pid := range leakTree(os.Getpid())[1:] {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if first, _, _ := strings.Cut(string(b), "\x00"); first == path {
			return pid
		}
	}
	return 0
}

// leakKeyring runs login (secret on stdin), status, token --profile and
// logout against the real Secret Service. Outside scripts/keyring-session.sh
// it skips; inside, a keyring it cannot use fails it.
func leakKeyring(t *testing.T, rec *leakRecorder, srv *authtest.Server, env []string, secret string) {
	t.Helper()
	if os.Getenv("DT_TEST_SECRET_SERVICE") != "1" {
		t.Skip("login, status with a profile, token --profile and logout not checked: no Secret Service session (run under scripts/keyring-session.sh)")
	}
	needKeyringSession(t)
	keyID := "leak-profile-key-" + leakRandom(4)
	email := "leak-profile@project.serviceaccount.d21s.com"
	srv.AddAccount(authtest.Account{KeyID: keyID, Email: email, Secret: secret})
	name := "leak-" + leakRandom(4)
	t.Cleanup(func() {
		for _, key := range []string{profile.SecretKey(name), keyring.Key(srv.TokenURL(), keyID, email)} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = exec.CommandContext(ctx, "secret-tool", "clear", "service", keyring.Service, "username", key).Run()
			cancel()
		}
	})
	penv := withEnv(env,
		"DT_SERVICE_ACCOUNT_KEY_ID=", "DT_SERVICE_ACCOUNT_EMAIL=", "DT_SERVICE_ACCOUNT_SECRET=", "DT_TOKEN_ENDPOINT=",
		"DBUS_SESSION_BUS_ADDRESS="+os.Getenv("DBUS_SESSION_BUS_ADDRESS"))
	rec.run(t, leakCmd{name: "login", path: binary, env: penv, stdin: secret + "\n", want: 0,
		args: []string{"login", "--verbose", "--profile", name, "--key-id", keyID, "--email", email, "--token-endpoint", srv.TokenURL()}})
	rec.run(t, leakCmd{name: "status with a profile", path: binary, env: penv, args: []string{"status", "--verbose"}, want: 0})
	rec.run(t, leakCmd{name: "token --profile", path: binary, env: penv, args: []string{"token", "--verbose", "--profile", name, "-o", "json"}, tokenOut: true, want: 0})
	srv.Inject(authtest.Fault{Delay: time.Second})
	rec.run(t, leakCmd{name: "slow token --profile", path: binary, env: penv, args: []string{"token", "--verbose", "--profile", name, "-o", "token", "--force-refresh"}, tokenOut: true, want: 0, slow: true})
	rec.run(t, leakCmd{name: "status with a cached profile token", path: binary, env: penv, args: []string{"status", "--verbose"}, want: 0})
	rec.run(t, leakCmd{name: "git get --profile", path: binary, env: withEnv(penv, "DT_PROFILE="+name), args: []string{"git", "--verbose", "get"},
		stdin: "protocol=https\nhost=api.disruptive-technologies.com\n\n", tokenOut: true, want: 0})
	srv.InjectAlways(authtest.ErrorFault(400, "invalid_grant", "assertion signature is invalid"))
	rec.run(t, leakCmd{name: "token --profile, rejected", path: binary, env: penv, args: []string{"token", "--verbose", "--profile", name, "--force-refresh"}, want: 1})
	srv.ClearFaults()
	rec.run(t, leakCmd{name: "logout", path: binary, env: penv, args: []string{"logout", "--verbose", "--profile", name}, want: 0})
	rec.run(t, leakCmd{name: "status after logout", path: binary, env: penv, args: []string{"status", "--verbose"}, want: 0})
}

// addFiles records the name and contents of every file under the test's
// HOME (which holds XDG_CONFIG_HOME, XDG_CACHE_HOME and DT_CACHE_DIR).
// Tokens belong in the cache directories only.
func (r *leakRecorder) addFiles(t *testing.T, d leakDirs) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(d.home, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(d.home, path)
		inCache := leakUnder(path, d.cache) || leakUnder(path, d.xdgCache)
		r.add("file name "+rel, rel, false)
		if !e.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		r.add("file "+rel, string(b), inCache)
		return nil
	})
	if err != nil {
		t.Errorf("reading the files under HOME: %v", err)
	}
	if n == 0 {
		t.Error("no file under HOME: the token cache was not written where expected")
	}
}

func leakUnder(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// leakJWT matches an assertion (or any JWT) in compact form.
var leakJWT = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)

// leakNeedle is something to search for, and what to call it in a message.
type leakNeedle struct{ what, s string }

// leakEncodings returns each secret as it is and in base64 and hex.
func leakEncodings(secrets ...string) []leakNeedle {
	var out []leakNeedle
	for i, s := range secrets {
		label := "the secret"
		if i > 0 {
			label = fmt.Sprintf("secret variant %d", i)
		}
		b := []byte(s)
		for _, e := range []struct{ enc, v string }{
			{"raw", s},
			{"base64", base64.StdEncoding.EncodeToString(b)},
			{"base64 unpadded", base64.RawStdEncoding.EncodeToString(b)},
			{"base64url", base64.URLEncoding.EncodeToString(b)},
			{"base64url unpadded", base64.RawURLEncoding.EncodeToString(b)},
			{"hex", hex.EncodeToString(b)},
			{"HEX", strings.ToUpper(hex.EncodeToString(b))},
			{"URL-escaped", url.QueryEscape(s)},
		} {
			out = append(out, leakNeedle{label + " (" + e.enc + ")", e.v})
		}
	}
	return out
}

// check reports every secret, assertion and misplaced token in what was
// recorded, by source and byte offset only.
func (r *leakRecorder) check(t *testing.T, secrets []leakNeedle, assertions, tokens []string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var never []leakNeedle
	never = append(never, secrets...)
	for i, a := range assertions {
		never = append(never, leakNeedle{fmt.Sprintf("assertion #%d sent to the echo server", i+1), a})
	}
	var toks []leakNeedle
	for i, tk := range tokens {
		toks = append(toks, leakNeedle{fmt.Sprintf("access token #%d", i+1), tk})
	}
	find := func(source, text string, needles []leakNeedle) {
		for _, n := range needles {
			if n.s == "" {
				continue
			}
			if i := strings.Index(text, n.s); i >= 0 {
				t.Errorf("LEAK: %s found in %s at byte %d (of %d)", n.what, source, i, len(text))
			}
		}
		if loc := leakJWT.FindStringIndex(text); loc != nil {
			t.Errorf("LEAK: a JWT (assertion-shaped, %d bytes) found in %s at byte %d (of %d)", loc[1]-loc[0], source, loc[0], len(text))
		}
	}
	for _, o := range r.outputs {
		find(o.source, o.text, never)
		if !o.tokenOK {
			find(o.source, o.text, toks)
		}
	}
	// The search must be able to find what it looks for.
	handedOver := 0
	for _, o := range r.outputs {
		for _, n := range toks {
			if o.tokenOK && strings.Contains(o.text, n.s) {
				handedOver++
				break
			}
		}
	}
	if handedOver == 0 {
		t.Error("no output handed over a known access token: the token search is blind")
	}
	for i, a := range assertions {
		if !leakJWT.MatchString(a) {
			t.Errorf("assertion #%d does not match the JWT pattern: the assertion search is blind", i+1)
		}
	}
	procs := map[string]int{}
	for _, p := range r.procs {
		procs[p.source]++
		src := fmt.Sprintf("argv of pid %d (%s)", p.pid, p.source)
		find(src, p.argv, never)
		find(src, p.argv, toks)
	}
	if len(r.procs) == 0 {
		t.Error("no process's argv was read")
	}
	t.Logf("searched %d outputs and files and %d argv samples from %d runs; %d assertions and %d access tokens known",
		len(r.outputs), len(r.procs), len(procs), len(assertions), len(tokens))
}

// leakEcho is a token endpoint that sends the request's assertion back, as
// a misconfigured proxy or a debugging server might; it records each
// assertion it was sent. The path says how: /json/, /html/, /describe/,
// /code/.
type leakEcho struct {
	mu         sync.Mutex
	assertions []string
}

func (e *leakEcho) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	a := r.PostForm.Get("assertion")
	e.mu.Lock()
	if a != "" {
		e.assertions = append(e.assertions, a)
	}
	e.mu.Unlock()
	body := r.PostForm.Encode()
	kind, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch kind {
	case "json":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token_type":"bearer","expires_in":3600,"received":{"assertion":%q},"request":%q}`, a, body)
	case "html":
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, "<html><body><h1>Debug</h1><pre>%s</pre></body></html>", body)
	case "describe":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":"invalid_grant","error_description":%q}`, "cannot verify assertion "+a)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":%q,"error_uri":%q}`, a, "https://example.com/?assertion="+a)
	}
}

func (e *leakEcho) seen() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.assertions...)
}

// leakClosedPort returns a loopback host:port nothing listens on.
func leakClosedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func leakRandom(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// leakHide masks s's occurrences of what, for a message that must not show it.
func leakHide(s, what string) string {
	if what == "" {
		return s
	}
	return strings.ReplaceAll(s, what, "[hidden]")
}
