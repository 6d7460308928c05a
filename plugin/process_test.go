package plugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

// The process tests re-execute this test binary as the plugin: TestMain
// serves a fakeTokens (see fake_test.go) through Serve when it finds the
// magic cookie, exactly as `dt-credential-helper plugin` will serve the
// CLI's cached source. The lead's tests cover the real binary.
const (
	envByHand   = "DT_PLUGIN_TEST_BY_HAND"
	envBlockDir = "DT_PLUGIN_TEST_BLOCK_DIR"
)

func TestMain(m *testing.M) {
	if code, ok := testChild(); ok {
		os.Exit(code)
	}
	if IsPluginProcess(os.Getenv) || os.Getenv(envByHand) != "" {
		logger := NewLogger(hclog.Debug)
		f := newFake(time.Hour, time.Minute)
		f.blockDir = os.Getenv(envBlockDir)
		if err := Serve(f, testClassify, logger); err != nil {
			fmt.Fprintf(os.Stderr, "plugin test: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(testutil.RunIsolated(m))
}

// launch starts this test binary as the plugin; logs holds what the host
// logged, the plugin's lines included.
func launch(t testing.TB, cfg LaunchConfig) (p TokenProvider, logs *testutil.Buffer, err error) {
	t.Helper()
	logs = &testutil.Buffer{}
	// The plugin's socket goes under TMPDIR: the test's own, short (a
	// socket's path is limited to about 100 bytes) and removed at the end,
	// so a plugin killed with SIGKILL leaves nothing behind.
	tmp, err := os.MkdirTemp("", "dtp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	cfg.Env = append(cfg.Env, "TMPDIR="+tmp)
	cfg.Path = os.Args[0]
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "host", Output: logs, Level: hclog.Debug})
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 20 * time.Second
	}
	p, stop, err := Launch(cfg)
	t.Cleanup(func() {
		if stop != nil {
			stop()
		}
		if t.Failed() {
			t.Logf("host log:\n%s", logs)
		}
	})
	return p, logs, err
}

func selfChecksum(t testing.TB) []byte {
	t.Helper()
	f, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return h.Sum(nil)
}

func TestLaunch(t *testing.T) {
	p, logs, err := launch(t, LaunchConfig{
		// AutoMTLS is on by default; the checksum must match.
		SecureConfig: &goplugin.SecureConfig{Checksum: selfChecksum(t), Hash: sha256.New()},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := p.GetToken(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "tok-1" || tok.Type() != "Bearer" || time.Until(tok.Expiry) < 59*time.Minute {
		t.Errorf("GetToken = %+v, want tok-1, Bearer, an hour left", tok)
	}
	pid, err := p.GetToken(ctx, "pid", false)
	if err != nil {
		t.Fatal(err)
	}
	if pid.AccessToken == strconv.Itoa(os.Getpid()) {
		t.Error("the provider ran in the host process, not in a plugin process")
	}
	// The plugin's own hclog JSON line, re-logged by the host.
	if !strings.Contains(logs.String(), "configuring server automatic mTLS") {
		t.Errorf("the plugin did not set up AutoMTLS; host log:\n%s", logs)
	}
}

func TestLaunchRefusesWrongChecksum(t *testing.T) {
	sum := selfChecksum(t)
	sum[0] ^= 0xff
	_, _, err := launch(t, LaunchConfig{SecureConfig: &goplugin.SecureConfig{Checksum: sum, Hash: sha256.New()}})
	if !errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
		t.Errorf("Launch with a wrong checksum = %v, want ErrChecksumsDoNotMatch", err)
	}
}

func TestPluginKilledMidCall(t *testing.T) {
	dir := t.TempDir()
	p, _, err := launch(t, LaunchConfig{Env: []string{envBlockDir + "=" + dir}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pidTok, err := p.GetToken(ctx, "pid", false)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(pidTok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}

	errc := make(chan error, 1)
	go func() {
		_, err := p.GetToken(ctx, "block", false)
		errc <- err
	}()
	for {
		if _, err := os.Stat(filepath.Join(dir, "blocked")); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the plugin never started the blocking call")
		case <-time.After(10 * time.Millisecond):
		}
	}
	testutil.Kill(t, pid)

	select {
	case err := <-errc:
		t.Logf("GetToken when the plugin died: %v", err)
		if !errors.Is(err, ErrExited) || ctx.Err() != nil {
			t.Errorf("GetToken when the plugin died = %v (ctx %v), want ErrExited before the deadline", err, ctx.Err())
		}
	case <-ctx.Done():
		t.Fatal("GetToken hangs after the plugin was killed")
	}
	_, err = p.GetToken(ctx, "", false)
	if !errors.Is(err, ErrExited) {
		t.Errorf("GetToken after the plugin died = %v, want ErrExited", err)
	}
}

func TestServeByHand(t *testing.T) {
	cmd := exec.Command(os.Args[0], "plugin")
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, Handshake.MagicCookieKey+"=")
	}), envByHand+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("plugin run by hand: %v, want exit status 1", err)
	}
	if stdout.Len() != 0 {
		t.Errorf("plugin run by hand wrote %q to stdout, want nothing", stdout.String())
	}
	if !strings.Contains(stderr.String(), "not meant to be run by hand") {
		t.Errorf("plugin run by hand said %q, want the reason", stderr.String())
	}
}

// BenchmarkGetToken measures a host's GetToken over a real plugin process
// (AutoMTLS, unix socket) with a warm cache, and reports the median.
func BenchmarkGetToken(b *testing.B) {
	p, _, err := launch(b, LaunchConfig{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := p.GetToken(ctx, "", false); err != nil {
		b.Fatal(err)
	}
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := p.GetToken(ctx, "", false); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(times[len(times)*99/100].Microseconds()), "p99-µs")
}
