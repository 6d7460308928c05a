//go:build unix

// Package baotest runs a real OpenBao dev server (OpenBao is the open-source
// fork of HashiCorp Vault: same HTTP API, same plugin protocol) with the DT
// secrets engine, vault-plugin-secrets-dt, built from this module, registered
// and mounted at dt/, and a file audit device, for end-to-end tests.
//
// The bao binary is not served by the module proxy; scripts/test.sh builds it
// with ../shared/tools/openbao/build.sh and exports its path as DT_TEST_BAO.
// Without it the tests that need it skip, saying so.
//
// Only _test.go files may import it.
package baotest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// EnvBao names the environment variable holding the bao binary's path.
const EnvBao = "DT_TEST_BAO"

// RootToken is the dev server's root token.
const RootToken = "root"

// Mount is where the DT engine is enabled.
const Mount = "dt"

// PluginName is the engine's name in the plugin catalog.
const PluginName = "vault-plugin-secrets-dt"

// Server is a running OpenBao dev server.
type Server struct {
	// Addr is the server's address, http://127.0.0.1:PORT, for VAULT_ADDR.
	Addr string
	// Bao is the path of the bao binary.
	Bao string
	// AuditLog is the file audit device's log.
	AuditLog string
	// Log is the server's own output.
	Log string
}

// Binary returns the bao binary to test with, skipping tb when there is none.
func Binary(tb testing.TB) string {
	tb.Helper()
	bao := os.Getenv(EnvBao)
	if bao == "" {
		tb.Skipf("no OpenBao server to test against: set %s to a bao binary (scripts/test.sh builds one with ../shared/tools/openbao/build.sh)", EnvBao)
	}
	if fi, err := os.Stat(bao); err != nil || fi.IsDir() {
		// Set but missing is a broken setup, not an absent tool.
		tb.Fatalf("%s=%s: not a bao binary: %v", EnvBao, bao, err)
	}
	return bao
}

// Start builds the engine, starts a dev server with it mounted at dt/, and
// stops the server when tb ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bao := Binary(tb)
	dir := tb.TempDir()
	pluginDir := filepath.Join(dir, "plugins")
	if err := os.Mkdir(pluginDir, 0o700); err != nil {
		tb.Fatal(err)
	}
	plugin := filepath.Join(pluginDir, PluginName)
	buildEngine(tb, plugin)

	s := &Server{Bao: bao, AuditLog: filepath.Join(dir, "audit.log"), Log: filepath.Join(dir, "bao.log")}
	// OpenBao 2.x enables audit devices only from its configuration.
	config := filepath.Join(dir, "dev.hcl")
	hcl := fmt.Sprintf("audit \"file\" \"to-file\" {\n  options {\n    file_path = %q\n  }\n}\n", s.AuditLog)
	if err := os.WriteFile(config, []byte(hcl), 0o600); err != nil {
		tb.Fatal(err)
	}
	port := freePort(tb)
	s.Addr = "http://127.0.0.1:" + port
	logf, err := os.Create(s.Log)
	if err != nil {
		tb.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bao, "server", "-dev", "-dev-root-token-id="+RootToken,
		"-dev-listen-address=127.0.0.1:"+port, "-dev-plugin-dir="+pluginDir, "-config="+config)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so that the engine processes it starts are
	// stopped with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting %s: %v", bao, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	s.waitReady(tb, exited)

	sum, err := fileSHA256(plugin)
	if err != nil {
		tb.Fatal(err)
	}
	s.CLI(tb, "", "plugin", "register", "-sha256="+sum, "secret", PluginName)
	s.CLI(tb, "", "secrets", "enable", "-path="+Mount, PluginName)
	return s
}

// buildEngine builds cmd/vault-plugin-secrets-dt into out.
func buildEngine(tb testing.TB, out string) {
	tb.Helper()
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		tb.Fatalf("finding the module root: %v", err)
	}
	cmd := exec.Command("go", "build", "-o", out, "./cmd/vault-plugin-secrets-dt")
	cmd.Dir = strings.TrimSpace(string(root))
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("building the engine: %v\n%s", err, b)
	}
}

func fileSHA256(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func freePort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// cleanEnv is the test's environment without any VAULT_ or BAO_ variable,
// so that a developer's own Vault settings cannot leak into a test.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") && !strings.HasPrefix(kv, "BAO_") {
			env = append(env, kv)
		}
	}
	return env
}

func (s *Server) waitReady(tb testing.TB, exited <-chan struct{}) {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.Addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			tb.Fatalf("the bao server exited at start; its log:\n%s", s.tail())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the bao server did not become ready in 60s; its log:\n%s", s.tail())
		}
	}
}

// tail is the end of the server's log, for failure messages.
func (s *Server) tail() string {
	b, _ := os.ReadFile(s.Log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Run runs the bao CLI against the server as token (the root token when
// empty) with stdin, returning its stdout, stderr and error.
func (s *Server) Run(ctx context.Context, token, stdin string, args ...string) (stdout, stderr string, err error) {
	if token == "" {
		token = RootToken
	}
	cmd := exec.CommandContext(ctx, s.Bao, args...)
	cmd.Env = append(cleanEnv(), "VAULT_ADDR="+s.Addr, "VAULT_TOKEN="+token, "HOME="+os.TempDir())
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// CLI runs the bao CLI with stdin, failing tb if it fails, and returns its
// stdout.
func (s *Server) CLI(tb testing.TB, stdin string, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, errs, err := s.Run(ctx, "", stdin, args...)
	if err != nil {
		tb.Fatalf("bao %s: %v\n%s%s", strings.Join(args, " "), err, out, errs)
	}
	return out
}
