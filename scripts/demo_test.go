package scripts_test

import (
	"bufio"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

// These tests run the scripts as a user runs them, from a shell.

func TestMain(m *testing.M) { os.Exit(testutil.RunIsolated(m)) }

// recorder is a TCP listener on loopback that records every connection
// made to it (and the first line sent, such as a proxy's CONNECT) and
// answers nothing.
type recorder struct {
	net.Listener
	mu    sync.Mutex
	lines []string
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{Listener: l}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			r.mu.Lock()
			r.lines = append(r.lines, strings.TrimSpace(line))
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// snapshot lists every file under dir with its mode and content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		content := ""
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			content = string(b)
		}
		files[p] = info.Mode().String() + " " + content
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestDemoHostileShell runs scripts/demo.sh from a shell that holds the
// user's own settings: a profile selected with DT_PROFILE in a profiles file
// of the user's (loose, which the helper refuses, or private, with a secret,
// whose endpoint is reached through the proxy), an account and endpoint in
// DT_*, Vault settings, and every proxy variable pointing at a listener that
// records connections. The demo works all the same, connects to none of
// them, and leaves the user's files as they were.
func TestDemoHostileShell(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the helper and the emulator")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	const userSecret = "users-own-secret-Zq81"
	profiles := `{"version":1,"profiles":{"prod":{"key_id":"users-key","email":"user@project.serviceaccount.d21s.com","token_endpoint":"https://identity.dt-hostile.test/oauth2/token","secret_store":"file"}}}`
	for _, tt := range []struct {
		name string
		mode fs.FileMode // of the user's profiles file
	}{
		{"loose profiles file", 0o664},
		{"a profile of the user's", 0o600},
	} {
		t.Run(tt.name, func(t *testing.T) {
			proxy, vault := newRecorder(t), newRecorder(t)
			home := t.TempDir()
			config := filepath.Join(home, ".config", "dt-credential-helper")
			if err := os.MkdirAll(filepath.Join(config, "secrets"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(config, "profiles.json"), []byte(profiles), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(config, "profiles.json"), tt.mode); err != nil { // past the umask
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(config, "secrets", "secret-prod"), []byte(userSecret), 0o600); err != nil {
				t.Fatal(err)
			}
			creds := `{"serviceAccount":{"keyId":"users-key","email":"user@project.serviceaccount.d21s.com","secret":"` + userSecret + `","tokenEndpoint":"https://identity.dt-hostile.test/oauth2/token"}}`
			if err := os.WriteFile(filepath.Join(home, "credentials.json"), []byte(creds), 0o600); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, home)

			proxyURL := "http://" + proxy.Addr().String()
			cmd := exec.Command("bash", "demo.sh")
			cmd.Env = append(os.Environ(),
				"HOME="+home,
				"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
				"XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
				"DT_PROFILE=prod",
				"DT_TOKEN_ENDPOINT=https://identity.dt-hostile.test/oauth2/token",
				"DT_SERVICE_ACCOUNT_KEY_ID=users-key",
				"DT_SERVICE_ACCOUNT_EMAIL=user@project.serviceaccount.d21s.com",
				"DT_CREDENTIALS_FILE="+filepath.Join(home, "credentials.json"),
				"DT_CACHE_DIR="+filepath.Join(home, "dt-cache"),
				"VAULT_ADDR=http://"+vault.Addr().String(),
				"VAULT_TOKEN=users-vault-token",
				"HTTPS_PROXY="+proxyURL, "https_proxy="+proxyURL,
				"HTTP_PROXY="+proxyURL, "http_proxy="+proxyURL,
				"ALL_PROXY="+proxyURL, "all_proxy="+proxyURL,
			)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("demo.sh: %v\n%s", err, out)
			}
			for _, want := range []string{"== emulator listening at http://127.0.0.1:", "ExecCredential", "cache hit"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("the demo's output lacks %q:\n%s", want, out)
				}
			}
			for _, leak := range []string{"prod", "users-key", userSecret, home} {
				if strings.Contains(string(out), leak) {
					t.Errorf("the demo's output shows the user's %q:\n%s", leak, out)
				}
			}
			if got := proxy.seen(); len(got) != 0 {
				t.Errorf("the demo went through the user's proxy: %q", got)
			}
			if got := vault.seen(); len(got) != 0 {
				t.Errorf("the demo connected to the user's Vault: %q", got)
			}
			after := snapshot(t, home)
			// The go command that builds the demo is the user's own, with
			// the user's Go settings: its telemetry counters are its
			// business, not the demo's.
			goConfig := filepath.Join(home, ".config", "go")
			for p := range after {
				if p == goConfig || strings.HasPrefix(p, goConfig+string(filepath.Separator)) {
					delete(after, p)
				}
			}
			for p, was := range before {
				if after[p] != was {
					t.Errorf("the demo changed %s: %q, was %q", p, after[p], was)
				}
			}
			for p := range after {
				if _, ok := before[p]; !ok {
					t.Errorf("the demo created %s in the user's HOME", p)
				}
			}
		})
	}
}

// TestPrivateEnvScript: private-env.sh unsets exactly the variables
// testutil.IsUserSetting names (both read internal/testutil/usersettings.txt)
// and moves HOME and the XDG directories into the directory it is given.
func TestPrivateEnvScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	names := []string{
		"DT_PROFILE", "DT_TOKEN_ENDPOINT", "DT_X", "DT_TEST_BAO", "DT_TEST_SECRET_SERVICE",
		"VAULT_ADDR", "VAULT_TOKEN", "BAO_ADDR", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
		"http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "SSL_CERT_FILE",
		"KUBECONFIG", "DOCKER_CONFIG", "GIT_CONFIG_GLOBAL", "GOFLAGS", "MY_DT_PROFILE", "DTX", "CI",
	}
	dir := t.TempDir()
	cmd := exec.Command("bash", "-c", `. ./private-env.sh && private_env "$1" && env -0`, "bash", dir)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/home/someone"}
	for _, n := range names {
		cmd.Env = append(cmd.Env, n+"=users-value")
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("private_env: %v", err)
	}
	got := map[string]string{}
	for _, kv := range strings.Split(string(out), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	for _, n := range names {
		_, kept := got[n]
		if kept == testutil.IsUserSetting(n) {
			t.Errorf("%s kept = %v, but IsUserSetting = %v", n, kept, testutil.IsUserSetting(n))
		}
	}
	for _, k := range []string{"HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"} {
		if !strings.HasPrefix(got[k], dir+"/") {
			t.Errorf("%s=%q, want a directory in %s", k, got[k], dir)
			continue
		}
		if fi, err := os.Stat(got[k]); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, want a directory of mode 0700", got[k], err)
		}
	}
	if !strings.HasPrefix(got["DBUS_SESSION_BUS_ADDRESS"], "unix:path="+dir+"/") {
		t.Errorf("DBUS_SESSION_BUS_ADDRESS=%q, want a dead one in %s", got["DBUS_SESSION_BUS_ADDRESS"], dir)
	}
}
