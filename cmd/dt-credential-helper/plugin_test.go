package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"golang.org/x/oauth2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
	"github.com/dt-credential-helper/dt-credential-helper/plugin"
)

// These tests launch the real built binary (see TestMain in main_test.go)
// through go-plugin, exactly as a host does with plugin.Launch. The DT
// identity service cannot run here: the in-process emulator (auth/authtest)
// stands in for it. Tokens go to the file cache in a private DT_CACHE_DIR;
// the keyring variant is covered in keyring/ and cache_test.go.

// pluginEnv is baseEnv for a plugin launched by a host. plugin.Launch adds
// these to the host's own environment, so the DT variables a developer may
// have set are blanked here, not just left out. TMPDIR, where the plugin
// makes its socket, is the test's own, so a plugin killed with SIGKILL
// leaves nothing behind.
func pluginEnv(tb testing.TB, tokenURL string) []string {
	tb.Helper()
	home := tb.TempDir()
	return []string{
		"TMPDIR=" + sharedTmp(tb),
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, "xdg-cache"),
		"DT_CACHE_DIR=" + filepath.Join(home, "cache"),
		"DT_TOKEN_CACHE=file",
		"DT_PROFILE=",
		"DT_CREDENTIALS_FILE=",
		"DT_SERVICE_ACCOUNT_KEY_ID=" + testAccount.KeyID,
		"DT_SERVICE_ACCOUNT_EMAIL=" + testAccount.Email,
		"DT_SERVICE_ACCOUNT_SECRET=" + testAccount.Secret,
		"DT_TOKEN_ENDPOINT=" + tokenURL,
	}
}

// sharedTmp returns a directory made like /tmp (mode 1777), for TMPDIR, so
// that where the plugin puts its socket, and what it leaves, can be seen. Its
// path is short: a socket's path is limited to about 100 bytes.
func sharedTmp(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dtp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// launchPlugin starts the binary as a host would. cfg.Path and cfg.Logger
// are filled in; the returned log holds what the host logged, and is shown
// when the test fails.
func launchPlugin(tb testing.TB, cfg plugin.LaunchConfig) (plugin.TokenProvider, *testutil.Buffer, error) {
	tb.Helper()
	logs := &testutil.Buffer{}
	cfg.Path = binary
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "host", Output: logs, Level: hclog.Debug})
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 20 * time.Second
	}
	p, stop, err := plugin.Launch(cfg)
	tb.Cleanup(func() {
		if stop != nil {
			stop()
		}
		if tb.Failed() {
			tb.Logf("host log:\n%s", logs)
		}
	})
	return p, logs, err
}

func mustLaunchPlugin(tb testing.TB, cfg plugin.LaunchConfig) (plugin.TokenProvider, *testutil.Buffer) {
	tb.Helper()
	p, logs, err := launchPlugin(tb, cfg)
	if err != nil {
		tb.Fatalf("launching the plugin: %v\nhost log:\n%s", err, logs)
	}
	return p, logs
}

func TestPluginSharesCacheWithCLI(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env := pluginEnv(t, idp.TokenURL())
	// AutoMTLS is on by default.
	p, logs := mustLaunchPlugin(t, plugin.LaunchConfig{Env: env})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !strings.Contains(logs.String(), "configuring client automatic mTLS") {
		t.Errorf("go-plugin did not configure automatic mTLS for the launch")
	}

	tok, err := p.GetToken(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if !idp.Valid(tok.AccessToken) || tok.Type() != "Bearer" {
		t.Fatalf("GetToken = %q (%s), not a Bearer token the emulator issued", tok.AccessToken, tok.Type())
	}
	if left := time.Until(tok.Expiry); left < 59*time.Minute || left > time.Hour {
		t.Errorf("token expires in %v, want about an hour", left)
	}
	if n := idp.Requests(); n != 1 {
		t.Errorf("%d token requests for the first GetToken, want 1", n)
	}

	again, err := p.GetToken(ctx, "", false)
	if err != nil || again.AccessToken != tok.AccessToken {
		t.Errorf("second GetToken = %v, %v; want the cached token", again, err)
	}
	if n := idp.Requests(); n != 1 {
		t.Errorf("%d token requests after a second GetToken, want 1 (cached)", n)
	}

	// The CLI, in its own process with the same environment, reads the
	// token the plugin cached.
	r := runBinary(t, withEnv(env), "", "token", "-o", "token")
	if r.code != 0 || r.stdout != tok.AccessToken+"\n" {
		t.Errorf("CLI token: exit %d, stdout %q, stderr %q; want the plugin's token", r.code, r.stdout, r.stderr)
	}
	if n := idp.Requests(); n != 1 {
		t.Errorf("%d token requests after the CLI ran, want 1 (shared cache)", n)
	}

	if err := p.InvalidateToken(ctx, "", tok.AccessToken); err != nil {
		t.Fatalf("InvalidateToken: %v", err)
	}
	fresh, err := p.GetToken(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.AccessToken == tok.AccessToken || !idp.Valid(fresh.AccessToken) {
		t.Errorf("GetToken after InvalidateToken = %q, want a new valid token", fresh.AccessToken)
	}
	if n := idp.Requests(); n != 2 {
		t.Errorf("%d token requests after InvalidateToken and GetToken, want 2", n)
	}

	// A host invalidating a token that is no longer cached (say, an old one
	// it held on to) must not drop the current one.
	if err := p.InvalidateToken(ctx, "", tok.AccessToken); err != nil {
		t.Fatalf("InvalidateToken of a stale token: %v", err)
	}
	if err := p.InvalidateToken(ctx, "", "not-the-cached-token"); err != nil {
		t.Fatalf("InvalidateToken of a foreign token: %v", err)
	}
	still, err := p.GetToken(ctx, "", false)
	if err != nil || still.AccessToken != fresh.AccessToken {
		t.Errorf("GetToken after invalidating other tokens = %v, %v; want the cached %q", still, err, fresh.AccessToken)
	}
	if n := idp.Requests(); n != 2 {
		t.Errorf("%d token requests after invalidating other tokens, want still 2", n)
	}
	r = runBinary(t, withEnv(env), "", "token", "-o", "token")
	if r.code != 0 || r.stdout != fresh.AccessToken+"\n" {
		t.Errorf("CLI token after the plugin refreshed: exit %d, stdout %q; want %q", r.code, r.stdout, fresh.AccessToken)
	}
}

// TestPluginWatchTokenRenewsBeforeExpiry runs on the real clock with the
// emulator issuing 4 s tokens and a 1 s refresh buffer: the host must hold
// the successor before the first token expires.
func TestPluginWatchTokenRenewsBeforeExpiry(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	idp.SetTokenTTL(4 * time.Second)
	p, _ := mustLaunchPlugin(t, plugin.LaunchConfig{
		Env:  pluginEnv(t, idp.TokenURL()),
		Args: []string{"plugin", "--refresh-buffer", "1s"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var got []*oauth2.Token
	var at []time.Time
	for tok, err := range p.WatchToken(ctx, "") {
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		got = append(got, tok)
		at = append(at, time.Now())
		if len(got) == 2 {
			break
		}
	}
	if len(got) < 2 {
		t.Fatalf("the watch ended after %d tokens (ctx: %v), want 2", len(got), ctx.Err())
	}
	first, second := got[0], got[1]
	if !idp.Valid(first.AccessToken) {
		t.Errorf("first token is not one the emulator issued")
	}
	if second.AccessToken == first.AccessToken || !idp.Valid(second.AccessToken) {
		t.Errorf("second token %q is not a new valid token", second.AccessToken)
	}
	if !at[1].Before(first.Expiry) {
		t.Errorf("second token arrived at %v, after the first expired at %v", at[1], first.Expiry)
	}
	if !second.Expiry.After(first.Expiry) {
		t.Errorf("second token expires %v, not after the first (%v)", second.Expiry, first.Expiry)
	}
}

func TestPluginErrors(t *testing.T) {
	t.Parallel()
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	down := authtest.NewServer(testAccount)
	downURL := down.TokenURL()
	down.Close()

	tests := []struct {
		name     string
		env      []string
		args     []string
		profile  string
		code     codes.Code
		sentinel error
	}{
		{name: "rejected", env: []string{"DT_SERVICE_ACCOUNT_SECRET=wrong-" + testSecret},
			code: codes.Unauthenticated, sentinel: plugin.ErrRejected},
		{name: "emulator closed", env: []string{"DT_TOKEN_ENDPOINT=" + downURL}, args: []string{"--timeout", "2s"},
			code: codes.Unavailable, sentinel: plugin.ErrUnavailable},
		{name: "nothing listening", env: []string{"DT_TOKEN_ENDPOINT=http://127.0.0.1:1/oauth2/token"}, args: []string{"--timeout", "2s"},
			code: codes.Unavailable, sentinel: plugin.ErrUnavailable},
		// pluginEnv's XDG_CONFIG_HOME is a fresh directory: no profiles.
		{name: "unknown profile", profile: "nope",
			code: codes.InvalidArgument, sentinel: plugin.ErrUnknownProfile},
		{name: "missing email", env: []string{"DT_SERVICE_ACCOUNT_EMAIL="},
			code: codes.FailedPrecondition, sentinel: plugin.ErrConfig},
	}
	sentinels := []error{plugin.ErrRejected, plugin.ErrUnavailable, plugin.ErrUnknownProfile, plugin.ErrConfig, plugin.ErrExited}
	// A group, so the parallel cases finish before the emulator closes.
	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				p, logs := mustLaunchPlugin(t, plugin.LaunchConfig{
					Env:  withEnv(pluginEnv(t, idp.TokenURL()), tt.env...),
					Args: append([]string{"plugin"}, tt.args...),
				})
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				start := time.Now()
				tok, err := p.GetToken(ctx, tt.profile, false)
				if err == nil {
					t.Fatalf("GetToken = %q, want an error", tok.AccessToken)
				}
				t.Logf("GetToken after %v: %v", time.Since(start).Round(time.Millisecond), err)
				if got := status.Code(err); got != tt.code {
					t.Errorf("status.Code = %v, want %v", got, tt.code)
				}
				for _, s := range sentinels {
					if got, want := errors.Is(err, s), s == tt.sentinel; got != want {
						t.Errorf("errors.Is(err, %q) = %v, want %v", s, got, want)
					}
				}
				if ctx.Err() != nil {
					t.Errorf("GetToken only failed at the host's deadline")
				}
				// The plugin survives a failed call: it is the request that
				// failed, not the process.
				if _, err := p.GetToken(ctx, tt.profile, false); errors.Is(err, plugin.ErrExited) || status.Code(err) != tt.code {
					t.Errorf("second GetToken = %v, want the same %v failure", err, tt.code)
				}
				for name, s := range map[string]string{"error": err.Error(), "host log": logs.String()} {
					if strings.Contains(s, testSecret) || looksLikeJWT(s) {
						t.Errorf("%s shows the secret or an assertion: %q", name, s)
					}
				}
			})
		}
	})
}

func TestPluginKilledMidCall(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	p, _ := mustLaunchPlugin(t, plugin.LaunchConfig{Env: pluginEnv(t, idp.TokenURL())})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := p.GetToken(ctx, "", false); err != nil {
		t.Fatal(err)
	}
	pider, ok := p.(interface{ Pid() int })
	if !ok {
		t.Fatalf("plugin.Launch returned a %T, which has no Pid method", p)
	}
	pid := pider.Pid()
	if pid <= 0 || pid == os.Getpid() {
		t.Fatalf("plugin pid %d", pid)
	}

	// The emulator sits on every further token request, so a forced
	// refresh blocks in the plugin until the process is killed.
	idp.InjectAlways(authtest.Fault{Delay: 20 * time.Second})
	errc := make(chan error, 1)
	go func() {
		_, err := p.GetToken(ctx, "", true)
		errc <- err
	}()
	for idp.Requests() < 2 {
		select {
		case err := <-errc:
			t.Fatalf("the forced GetToken returned before reaching the emulator: %v", err)
		case <-ctx.Done():
			t.Fatal("the forced GetToken never reached the emulator")
		case <-time.After(10 * time.Millisecond):
		}
	}
	testutil.Kill(t, pid)
	killed := time.Now()

	select {
	case err := <-errc:
		t.Logf("GetToken %v after the kill: %v", time.Since(killed).Round(time.Millisecond), err)
		if !errors.Is(err, plugin.ErrExited) || ctx.Err() != nil {
			t.Errorf("GetToken when the plugin died = %v (ctx %v), want ErrExited before the deadline", err, ctx.Err())
		}
	case <-ctx.Done():
		t.Fatal("GetToken hangs after the plugin was killed")
	}
	_, err := p.GetToken(ctx, "", false)
	if !errors.Is(err, plugin.ErrExited) || ctx.Err() != nil {
		t.Errorf("GetToken after the plugin died = %v, want ErrExited", err)
	}
}

func TestPluginSecureConfig(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	f, err := os.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	sum := h.Sum(nil)

	t.Run("wrong checksum", func(t *testing.T) {
		wrong := slices.Clone(sum)
		wrong[0] ^= 0xff
		_, _, err := launchPlugin(t, plugin.LaunchConfig{
			Env:          pluginEnv(t, idp.TokenURL()),
			SecureConfig: &goplugin.SecureConfig{Checksum: wrong, Hash: sha256.New()},
		})
		if !errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
			t.Errorf("Launch with a wrong checksum = %v, want ErrChecksumsDoNotMatch", err)
		}
	})
	t.Run("right checksum", func(t *testing.T) {
		p, _, err := launchPlugin(t, plugin.LaunchConfig{
			Env:          pluginEnv(t, idp.TokenURL()),
			SecureConfig: &goplugin.SecureConfig{Checksum: sum, Hash: sha256.New()},
		})
		if err != nil {
			t.Fatalf("Launch with the binary's checksum: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if tok, err := p.GetToken(ctx, "", false); err != nil || !idp.Valid(tok.AccessToken) {
			t.Errorf("GetToken = %v, %v; want a valid token", tok, err)
		}
	})
}

// TestPluginStdoutIsHandshakeOnly runs the binary by hand with the magic
// cookie set, as go-plugin would, and reads its stdout: the handshake line
// and nothing else, or go-plugin would fail the handshake (each launch in
// the other tests proves the same, with the host's parser).
func TestPluginStdoutIsHandshakeOnly(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "plugin", "--verbose")
	cmd.Env = append(pluginEnv(t, idp.TokenURL()),
		plugin.Handshake.MagicCookieKey+"="+plugin.Handshake.MagicCookieValue,
		"PLUGIN_PROTOCOL_VERSIONS=1")
	var stderr testutil.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("plugin stderr:\n%s", stderr.String())
		}
	}()

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatal("the plugin closed stdout without a handshake")
		}
		if !regexp.MustCompile(`^1\|1\|(tcp|unix)\|[^|]+\|grpc\|`).MatchString(line) {
			t.Errorf("first stdout line %q is not go-plugin's gRPC handshake", line)
		}
	case <-ctx.Done():
		t.Fatal("no handshake line on stdout")
	}
	select {
	case line, ok := <-lines:
		if ok {
			t.Errorf("stdout has more than the handshake: %q", line)
		}
	case <-time.After(300 * time.Millisecond):
	}
}

// TestPluginLogsReachHost checks that the plugin's --verbose steps end up
// in the host's hclog logger, and never show the secret, an assertion or
// the token.
func TestPluginLogsReachHost(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	p, logs := mustLaunchPlugin(t, plugin.LaunchConfig{
		Env:  pluginEnv(t, idp.TokenURL()),
		Args: []string{"plugin", "--verbose"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	tok, err := p.GetToken(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.GetToken(ctx, "", false); err != nil {
		t.Fatal(err)
	}
	if err := p.InvalidateToken(ctx, "", tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	// go-plugin relays the plugin's stderr asynchronously: wait for the
	// last step to show up.
	for !strings.Contains(logs.String(), "cached token dropped") {
		select {
		case <-ctx.Done():
			t.Fatalf("the plugin's last step never reached the host log:\n%s", logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	out := logs.String()
	// AutoMTLS is on: go-plugin's host made a client certificate, and the
	// plugin, finding it in its environment, set up TLS with its own (its
	// go-plugin logs at debug level, shown under --verbose).
	for _, want := range []string{"configuring client automatic mTLS", "configuring server automatic mTLS"} {
		if !strings.Contains(out, want) {
			t.Errorf("host log lacks %q: AutoMTLS is off", want)
		}
	}
	for _, want := range []string{"requesting token", idp.TokenURL(), testAccount.KeyID, "token cached", "cache hit"} {
		if !strings.Contains(out, want) {
			t.Errorf("host log lacks the plugin's %q", want)
		}
	}
	// The plugin's lines arrive parsed, as the host's own debug entries
	// under the plugin's logger name, not as raw JSON.
	if !regexp.MustCompile(`(?m)\[DEBUG\] host\.[^:]*: requesting token: `).MatchString(out) {
		t.Errorf("the plugin's lines were not re-logged at their level by the host")
	}
	// JSON numbers reach the host as floats: a duration must be a string
	// there (lock_wait=10s, not lock_wait=1e+10).
	if m := regexp.MustCompile(`\w+="?[0-9.]+e\+[0-9]+`).FindString(out); m != "" {
		t.Errorf("host log shows a duration as a float: %s", m)
	}
	if strings.Contains(out, `"@message"`) {
		t.Errorf("raw hclog JSON in the host log: the plugin's lines were not parsed")
	}
	for name, s := range map[string]string{"the secret": testSecret, "the token": tok.AccessToken} {
		if strings.Contains(out, s) {
			t.Errorf("host log shows %s", name)
		}
	}
	if looksLikeJWT(out) {
		t.Errorf("host log shows an assertion")
	}
}

// BenchmarkPluginGetToken measures a host's GetToken round trip over the
// real plugin connection to the real binary (AutoMTLS, unix socket) with a
// warm file cache, and reports the median and 99th percentile.
func BenchmarkPluginGetToken(b *testing.B) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	p, _ := mustLaunchPlugin(b, plugin.LaunchConfig{Env: pluginEnv(b, idp.TokenURL())})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	want, err := p.GetToken(ctx, "", false)
	if err != nil {
		b.Fatal(err)
	}
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		tok, err := p.GetToken(ctx, "", false)
		times = append(times, time.Since(start))
		if err != nil || tok.AccessToken != want.AccessToken {
			b.Fatalf("GetToken = %v, %v; want the cached token", tok, err)
		}
	}
	b.StopTimer()
	if n := idp.Requests(); n != 1 {
		b.Errorf("%d token requests, want 1: the cache was not warm", n)
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(times[len(times)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// pluginProc is the binary started the way go-plugin starts it (magic
// cookie and protocol versions in its environment), but with its real
// stdout and stderr captured by the test, which go-plugin's host would
// otherwise read and, after the handshake, throw away.
type pluginProc struct {
	cmd            *exec.Cmd
	stdout, stderr *testutil.Buffer
	done           chan struct{} // closed when the process has been reaped
}

// startPluginProc starts the binary with args and env plus what a host adds.
// The process is killed and reaped when t ends.
func startPluginProc(t *testing.T, env []string, args ...string) *pluginProc {
	t.Helper()
	return startPluginCmd(t, exec.Command(binary, args...), env)
}

// startPluginCmd is startPluginProc for a command of the caller's making,
// such as a shell that sets the umask and execs the binary.
func startPluginCmd(t *testing.T, cmd *exec.Cmd, env []string) *pluginProc {
	t.Helper()
	args := cmd.Args[1:]
	cmd.Env = withEnv(env,
		plugin.Handshake.MagicCookieKey+"="+plugin.Handshake.MagicCookieValue,
		"PLUGIN_PROTOCOL_VERSIONS=1")
	p := &pluginProc{cmd: cmd, stdout: &testutil.Buffer{}, stderr: &testutil.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("plugin process %d not reaped 10s after the kill", cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("plugin %v stdout:\n%s\nplugin stderr:\n%s", args, p.stdout, p.stderr)
		}
	})
	return p
}

// handshake waits for the first line on the process's stdout and returns
// it, without its newline.
func (p *pluginProc) handshake(t *testing.T) string {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		if line, _, ok := strings.Cut(p.stdout.String(), "\n"); ok {
			return line
		}
		select {
		case <-p.done:
			t.Fatalf("the plugin exited (%v) without a handshake line on stdout", p.cmd.ProcessState)
		case <-deadline:
			t.Fatal("no handshake line on stdout within 15s")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// handshakeLine is go-plugin's CORE-PROTOCOL-VERSION|APP-PROTOCOL-VERSION|
// NETWORK-TYPE|NETWORK-ADDR|PROTOCOL|SERVER-CERT line, for gRPC.
var handshakeLine = regexp.MustCompile(`^1\|1\|(tcp|unix)\|[^|]+\|grpc\|[^|]*$`)

// TestPluginServesWithCookie: a host launches the binary with no arguments
// or with "plugin" (and its flags); with the magic cookie set it serves the
// plugin.
func TestPluginServesWithCookie(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"plugin"},
		{"plugin", "--verbose"},
	} {
		name := strings.Join(args, " ")
		if name == "" {
			name = "no args"
		}
		t.Run(name, func(t *testing.T) {
			idp := authtest.NewServer(testAccount)
			defer idp.Close()
			p := startPluginProc(t, pluginEnv(t, idp.TokenURL()), args...)
			line := p.handshake(t)
			if !handshakeLine.MatchString(line) {
				t.Errorf("first stdout line %q is not go-plugin's gRPC handshake", line)
			}
			// Still serving: a command would have exited by now.
			select {
			case <-p.done:
				t.Errorf("the plugin exited (%v) after its handshake, with no host connected", p.cmd.ProcessState)
			case <-time.After(200 * time.Millisecond):
			}
			if out := p.stdout.String(); out != line+"\n" {
				t.Errorf("stdout = %q, want the handshake line only", out)
			}
			if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
				t.Fatal(err)
			}
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				t.Fatal("the plugin did not die of SIGKILL")
			}
			if n := idp.Requests(); n != 0 {
				t.Errorf("%d token requests with no host asking", n)
			}
		})
	}
}

// TestNamedCommandsIgnorePluginCookie: with the magic cookie leaked into the
// environment (a shell that exported it, a command a plugin host ran), every
// named command, and the binary run as a git or docker helper, does its own
// job instead of printing a handshake and waiting for a host.
func TestNamedCommandsIgnorePluginCookie(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env := withEnv(pluginEnv(t, idp.TokenURL()),
		plugin.Handshake.MagicCookieKey+"="+plugin.Handshake.MagicCookieValue,
		"PLUGIN_PROTOCOL_VERSIONS=1")
	links := helperLinks(t)
	const gitGet = "protocol=https\nhost=api.disruptive-technologies.com\n\n"
	const dockerURL = "https://api.disruptive-technologies.com"
	// Each case's token is what its output carries, "" where none is due.
	after := func(prefix string) func(string) string {
		return func(out string) string {
			for line := range strings.Lines(out) {
				if v, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), prefix); ok {
					return v
				}
			}
			return "missing"
		}
	}
	whole := func(out string) string { return strings.TrimSuffix(out, "\n") }
	dockerSecret := func(out string) string {
		var c struct{ Secret string }
		_ = json.Unmarshal([]byte(out), &c)
		return c.Secret
	}
	tests := []struct {
		name  string
		path  string
		args  []string
		stdin string
		token func(stdout string) string // nil: no token due
		want  string                     // a part of stdout
	}{
		{name: gitHelperName + " get", path: filepath.Join(links, gitHelperName), args: []string{"get"}, stdin: gitGet, token: after("password=")},
		{name: dockerHelperName + " get", path: filepath.Join(links, dockerHelperName), args: []string{"get"}, stdin: dockerURL, token: dockerSecret},
		{name: dockerHelperName + " list", path: filepath.Join(links, dockerHelperName), args: []string{"list"}, want: "oauth2accesstoken"},
		{name: "git get", args: []string{"git", "get"}, stdin: gitGet, token: after("password=")},
		{name: "docker get", args: []string{"docker", "get"}, stdin: dockerURL, token: dockerSecret},
		{name: "token", args: []string{"token", "-o", "token"}, token: whole},
		{name: "flags only", args: []string{"-o", "token"}, token: whole},
		{name: "exec", args: []string{"exec", "--", "sh", "-c", `printf '%s\n' "$DT_ACCESS_TOKEN" "cookie ${` + plugin.Handshake.MagicCookieKey + `-unset}"`},
			token: func(out string) string { tok, _, _ := strings.Cut(out, "\n"); return tok }, want: "\ncookie unset\n"},
		{name: "version", args: []string{"version"}, want: prog},
		{name: "status", args: []string{"status"}, want: testAccount.KeyID},
		{name: "help", args: []string{"--help"}, want: "Usage:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = binary
			}
			r := runPathFor(t, path, 10*time.Second, env, tt.stdin, tt.args...)
			if handshakeLine.MatchString(strings.TrimSpace(r.stdout)) || r.code != 0 {
				t.Fatalf("exit %d, stdout %q, stderr %q; want the command's own output", r.code, r.stdout, r.stderr)
			}
			if tt.token != nil {
				if tok := tt.token(r.stdout); !idp.Valid(tok) {
					t.Errorf("stdout %q does not carry a token the emulator issued", r.stdout)
				}
			}
			if !strings.Contains(r.stdout, tt.want) {
				t.Errorf("stdout %q does not contain %q", r.stdout, tt.want)
			}
		})
	}
}

// runPathFor runs the program at path (the binary or a link to it), killing
// it after limit.
func runPathFor(t *testing.T, path string, limit time.Duration, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish within %v: stdout %q, stderr %q", filepath.Base(path), args, limit, r.stdout, r.stderr)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running %s: %v", path, err)
	}
	checkNoLeak(t, r)
	return r
}

// TestPluginCookieKey: the helper, which does not link the plugin package,
// knows its cookie and its by-hand error word for word.
func TestPluginCookieKey(t *testing.T) {
	if pluginCookieKey != plugin.Handshake.MagicCookieKey {
		t.Errorf("pluginCookieKey = %q, want plugin.Handshake's %q", pluginCookieKey, plugin.Handshake.MagicCookieKey)
	}
	if pluginCookieValue != plugin.Handshake.MagicCookieValue {
		t.Errorf("pluginCookieValue = %q, want plugin.Handshake's %q", pluginCookieValue, plugin.Handshake.MagicCookieValue)
	}
	if errNotPluginProcess.Error() != plugin.ErrNotPluginProcess.Error() {
		t.Errorf("errNotPluginProcess = %q, want plugin.ErrNotPluginProcess's %q", errNotPluginProcess, plugin.ErrNotPluginProcess)
	}
}

// TestPluginByHand: `plugin` without the magic cookie (or with a wrong
// value) explains itself on stderr, prints nothing on stdout and exits 1.
func TestPluginByHand(t *testing.T) {
	t.Parallel()
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	// A group, so the parallel cases finish before the checks below and
	// the cleanup.
	t.Run("cases", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			env  []string
			args []string
		}{
			{name: "no cookie", args: []string{"plugin"}},
			{name: "no cookie verbose", args: []string{"plugin", "--verbose"}},
			{name: "wrong cookie", env: []string{plugin.Handshake.MagicCookieKey + "=something-else"}, args: []string{"plugin"}},
			{name: "empty cookie", env: []string{plugin.Handshake.MagicCookieKey + "="}, args: []string{"plugin"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				env := withEnv(pluginEnv(t, idp.TokenURL()), tt.env...)
				r := runInProcess(t, env, "", tt.args...)
				if r.code != 1 {
					t.Errorf("exit %d, want 1", r.code)
				}
				if r.stdout != "" {
					t.Errorf("stdout %q, want nothing", r.stdout)
				}
				oneStderrLine(t, r.stderr, "go-plugin", plugin.Handshake.MagicCookieKey, "not meant to be run by hand")
			})
		}
	})
	if n := idp.Requests(); n != 0 {
		t.Errorf("%d token requests from plugins run by hand, want 0", n)
	}
}

// testClientCert is what go-plugin's AutoMTLS makes for a host: a
// self-signed certificate for "localhost", for both ends of the connection.
func testClientCert(t *testing.T) (certPEM []byte, cert tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(cryptorand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestPluginStdoutQuietDuringRPCs starts the binary by hand as go-plugin
// would, with --verbose and the client certificate of AutoMTLS, reads its
// real stdout itself, and attaches a go-plugin host to the address in the
// handshake. Through GetToken, a cache hit, a failing call, WatchToken with
// a renewal, InvalidateToken and the host's shutdown, the process's stdout
// holds the handshake line and nothing else; and nothing reaches the stdout
// go-plugin relays over its stdio stream (os.Stdout after Serve) either.
func TestPluginStdoutQuietDuringRPCs(t *testing.T) {
	t.Parallel()
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	idp.SetTokenTTL(3 * time.Second)
	certPEM, cert := testClientCert(t)
	proc := startPluginProc(t, withEnv(pluginEnv(t, idp.TokenURL()), "PLUGIN_CLIENT_CERT="+string(certPEM)),
		"plugin", "--verbose", "--refresh-buffer", "1s")
	line := proc.handshake(t)
	parts := strings.Split(line, "|")
	if !handshakeLine.MatchString(line) || len(parts) != 6 {
		t.Fatalf("first stdout line %q is not go-plugin's gRPC handshake", line)
	}
	// With the host's certificate in its environment the plugin answers
	// with its own, as the handshake's last field.
	der, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(der) == 0 {
		t.Fatalf("handshake %q carries no server certificate: %v", line, err)
	}
	serverCert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("handshake's server certificate: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(serverCert)
	var addr net.Addr
	switch parts[2] {
	case "unix":
		addr = &net.UnixAddr{Net: "unix", Name: parts[3]}
	default:
		addr, err = net.ResolveTCPAddr("tcp", parts[3])
		if err != nil {
			t.Fatal(err)
		}
	}

	hostLog, relayedOut, relayedErr := &testutil.Buffer{}, &testutil.Buffer{}, &testutil.Buffer{}
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig: plugin.Handshake,
		Plugins:         plugin.PluginMap,
		Reattach: &goplugin.ReattachConfig{
			Protocol:        goplugin.ProtocolGRPC,
			ProtocolVersion: 1,
			Addr:            addr,
			Pid:             proc.cmd.Process.Pid,
		},
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			RootCAs:      roots,
			ServerName:   "localhost",
			MinVersion:   tls.VersionTLS12,
		},
		Logger:     hclog.New(&hclog.LoggerOptions{Name: "host", Output: hostLog, Level: hclog.Debug}),
		SyncStdout: relayedOut,
		SyncStderr: relayedErr,
	})
	defer client.Kill()
	defer func() {
		if t.Failed() {
			t.Logf("host log:\n%s", hostLog)
		}
	}()
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("attaching to the plugin: %v", err)
	}
	raw, err := rpc.Dispense(plugin.Name)
	if err != nil {
		t.Fatal(err)
	}
	p := raw.(plugin.TokenProvider)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	tok, err := p.GetToken(ctx, "", false)
	if err != nil || !idp.Valid(tok.AccessToken) {
		t.Fatalf("GetToken = %v, %v; want a valid token", tok, err)
	}
	if _, err := p.GetToken(ctx, "", false); err != nil {
		t.Fatalf("second GetToken: %v", err)
	}
	if _, err := p.GetToken(ctx, "nope", false); status.Code(err) != codes.InvalidArgument {
		t.Errorf("GetToken for an unknown profile = %v, want InvalidArgument", err)
	}
	var watched []string
	for wt, err := range p.WatchToken(ctx, "") {
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		watched = append(watched, wt.AccessToken)
		if len(watched) == 2 {
			break
		}
	}
	if len(watched) != 2 || watched[0] == watched[1] {
		t.Fatalf("WatchToken delivered %d tokens %q, want the current one and its successor", len(watched), watched)
	}
	if err := p.InvalidateToken(ctx, "", watched[1]); err != nil {
		t.Fatalf("InvalidateToken: %v", err)
	}

	// The plugin's stderr is in order: once its last step shows, every
	// earlier write has been made. --verbose is on: the steps are there.
	// (A step on stdout instead is reported below.)
	const lastStep = "cached token dropped"
	for !strings.Contains(proc.stderr.String(), lastStep) && !strings.Contains(proc.stdout.String(), lastStep) {
		select {
		case <-ctx.Done():
			t.Fatalf("the plugin never logged its last step to stderr:\n%s", proc.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	for _, want := range []string{"requesting token", "cache hit", "configuring server automatic mTLS"} {
		if !strings.Contains(proc.stderr.String(), want) {
			t.Errorf("the plugin's stderr lacks %q: --verbose logging is off or not on stderr", want)
		}
	}
	// go-plugin relays os.Stdout and os.Stderr asynchronously.
	time.Sleep(300 * time.Millisecond)
	if out := proc.stdout.String(); out != line+"\n" {
		t.Errorf("the plugin's stdout after the RPCs = %q, want the handshake line only", out)
	}
	if out := relayedOut.String(); out != "" {
		t.Errorf("the plugin wrote %q to os.Stdout during the RPCs", out)
	}
	if out := relayedErr.String(); out != "" {
		t.Errorf("the plugin wrote %q to os.Stderr after Serve, where the host shows it raw", out)
	}

	// The host lets go: the plugin shuts down, still without a word on
	// stdout.
	client.Kill()
	select {
	case <-proc.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the plugin still runs 10s after the host let go")
	}
	if out := proc.stdout.String(); out != line+"\n" {
		t.Errorf("the plugin's stdout after shutdown = %q, want the handshake line only", out)
	}
	for name, s := range map[string]string{"stdout": proc.stdout.String(), "stderr": proc.stderr.String()} {
		if strings.Contains(s, testSecret) || looksLikeJWT(s) || strings.Contains(s, tok.AccessToken) {
			t.Errorf("the plugin's %s shows the secret, an assertion or the token", name)
		}
	}
}

// TestPluginKeyringProfile: a profile stored with `login` (secret on
// stdin, in the Secret Service) gets its token through the plugin, cached in
// the kernel keyring under the default (auto) cache mode, where the CLI's `token --profile`
// finds it without asking the identity service again.
func TestPluginKeyringProfile(t *testing.T) {
	if os.Getenv("DT_TEST_SECRET_SERVICE") != "1" {
		t.Skip("needs a real Secret Service: run under scripts/keyring-session.sh, which sets DT_TEST_SECRET_SERVICE=1")
	}
	needKeyringSession(t)
	needKernelKeyring(t)
	f := newLoginFixture(t)
	// The default cache mode, as a user has it: no DT_TOKEN_CACHE.
	env := withoutEnv(f.env, "DT_TOKEN_CACHE")

	r := runFor(t, runLimit, env, testSecret+"\n", f.loginArgs(f.profile)...)
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("login: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	f.wantRequests(t, 1, "login")

	// plugin.Launch adds Env to the host's own environment: blank whatever
	// account or cache settings the host may have.
	p, logs := mustLaunchPlugin(t, plugin.LaunchConfig{Env: withEnv(env,
		"DT_TOKEN_CACHE=", "DT_PROFILE=", "DT_CREDENTIALS_FILE=", "DT_SERVICE_ACCOUNT_KEY_ID=",
		"DT_SERVICE_ACCOUNT_EMAIL=", "DT_SERVICE_ACCOUNT_SECRET=", "DT_TOKEN_ENDPOINT=")})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := p.GetToken(ctx, f.profile, false)
	if err != nil {
		t.Fatalf("GetToken for profile %s: %v", f.profile, err)
	}
	if !f.srv.Valid(tok.AccessToken) {
		t.Fatalf("GetToken for profile %s = %q, not a token the emulator issued", f.profile, tok.AccessToken)
	}
	f.wantRequests(t, 2, "login, then the plugin's GetToken")
	if again, err := p.GetToken(ctx, f.profile, false); err != nil || again.AccessToken != tok.AccessToken {
		t.Errorf("second GetToken = %v, %v; want the cached token", again, err)
	}
	f.wantRequests(t, 2, "a second GetToken")

	// The token is in auto's first store, the kernel keyring, not in a
	// fallback file.
	t.Cleanup(func() { forgetKernelToken(f.key) })
	if entry, ok := kernelEntry(t, f.key); !ok {
		t.Errorf("no kernel keyring entry %s after the plugin's GetToken: the plugin did not cache in the kernel keyring", f.key)
	} else if entry.AccessToken != tok.AccessToken {
		t.Errorf("kernel keyring entry %s after GetToken is not the plugin's token", f.key)
	}

	r = runFor(t, runLimit, env, "", "token", "--profile", f.profile, "-o", "token")
	if r.code != 0 || r.stdout != tok.AccessToken+"\n" || r.stderr != "" {
		t.Errorf("CLI token --profile %s: exit %d, stdout %q, stderr %q; want the plugin's token", f.profile, r.code, r.stdout, r.stderr)
	}
	f.wantRequests(t, 2, "the CLI's token --profile after the plugin (shared cache)")
	for name, s := range map[string]string{"host log": logs.String(), "CLI stderr": r.stderr} {
		if strings.Contains(s, testSecret) || looksLikeJWT(s) {
			t.Errorf("%s shows the secret or an assertion", name)
		}
	}
}

// envTestHost makes the test binary a go-plugin host (see runTestHost); its
// value is the plugin binary to launch.
const envTestHost = "DT_TEST_PLUGIN_HOST"

// runTestHost is the test binary run as a host application, for tests that
// need a host process to kill: it launches the plugin, watches the token
// (so the plugin keeps refreshing it), prints "plugin PID" once the first
// token arrived and then runs until it is killed.
func runTestHost(path string) int {
	logger := hclog.New(&hclog.LoggerOptions{Name: "host", Output: os.Stderr, Level: hclog.Debug})
	p, stop, err := plugin.Launch(plugin.LaunchConfig{
		Path:         path,
		Args:         []string{"plugin", "--refresh-buffer", "1s"},
		Logger:       logger,
		StartTimeout: 20 * time.Second,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "test host: %v\n", err)
		return 1
	}
	defer stop()
	first := true
	for _, err := range p.WatchToken(context.Background(), "") {
		if err != nil {
			fmt.Fprintf(os.Stderr, "test host: watch: %v\n", err)
			return 1
		}
		if first {
			fmt.Printf("plugin %d\n", p.(interface{ Pid() int }).Pid())
			first = false
		}
	}
	return 1
}
