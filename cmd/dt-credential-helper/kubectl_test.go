package main

import (
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// TestKubectlExecPlugin runs the real kubectl with a kubeconfig whose user
// runs `dt-credential-helper token` as an exec credential plugin, against a
// local HTTPS stand-in for a Kubernetes API server that accepts only tokens
// the emulator issued.
func TestKubectlExecPlugin(t *testing.T) {
	kubectl := lookKubectl(t)
	idp := authtest.NewServer(testAccount)
	defer idp.Close()

	var authorized, refused atomic.Int32
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := idp.Authorize(r); err != nil {
			refused.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`)
			return
		}
		authorized.Add(1)
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"major":"1","minor":"32","gitVersion":"v1.32.0-dt-test","platform":"linux/amd64"}`)
	}))
	defer api.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw})

	kubeconfig := func(t *testing.T, secret string) (path string, env []string) {
		dir := t.TempDir()
		env = baseEnv(t, idp.TokenURL())
		// kubectl passes its own environment plus the exec env to the plugin;
		// the secret comes from kubectl's environment, not the kubeconfig.
		env = withEnv(env, "DT_SERVICE_ACCOUNT_SECRET="+secret, "KUBECONFIG="+filepath.Join(dir, "config"))
		path = filepath.Join(dir, "config")
		if err := os.WriteFile(path, []byte(kubeconfigYAML(api.URL, ca, "token")), 0o600); err != nil {
			t.Fatal(err)
		}
		return path, env
	}

	t.Run("succeeds", func(t *testing.T) {
		path, env := kubeconfig(t, testSecret)
		for i := range 2 {
			out, errOut, code := runKubectl(t, kubectl, env, path)
			if code != 0 || !strings.Contains(out, "v1.32.0-dt-test") {
				t.Fatalf("run %d: kubectl exit %d\nstdout: %s\nstderr: %s", i, code, out, errOut)
			}
		}
		if authorized.Load() < 2 {
			t.Errorf("the API server authorized %d requests, want 2", authorized.Load())
		}
		if n := idp.Requests(); n != 1 {
			t.Errorf("%d token requests for two kubectl runs, want 1 (cached)", n)
		}
	})
	t.Run("fails cleanly when the helper fails", func(t *testing.T) {
		path, env := kubeconfig(t, "wrong-"+testSecret)
		before := authorized.Load()
		out, errOut, code := runKubectl(t, kubectl, env, path)
		if code == 0 {
			t.Fatalf("kubectl succeeded with a wrong secret: %s", out)
		}
		if !strings.Contains(errOut, "invalid_grant") && !strings.Contains(errOut, "exit status 1") {
			t.Errorf("kubectl's error does not show the helper's failure:\n%s", errOut)
		}
		if strings.Contains(out+errOut, testSecret) {
			t.Error("kubectl output shows the secret")
		}
		if authorized.Load() != before {
			t.Error("the API server authorized a request without a valid token")
		}
	})
}

// TestKubectlExecPlugin's profile case: the kubeconfig names a profile whose
// secret `login` put in the real keyring, and neither the kubeconfig nor
// kubectl's environment holds any account detail or secret.
func TestKubectlExecPluginProfile(t *testing.T) {
	kubectl := lookKubectl(t)
	needKeyringSession(t)
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	var authorized atomic.Int32
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if idp.Authorize(r) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		authorized.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"major":"1","minor":"32","gitVersion":"v1.32.0-dt-test","platform":"linux/amd64"}`)
	}))
	defer api.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw})

	home := t.TempDir()
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, "cache"),
		"DBUS_SESSION_BUS_ADDRESS=" + os.Getenv("DBUS_SESSION_BUS_ADDRESS"),
	}
	name := uniqueName("kube")
	t.Cleanup(func() {
		secretToolClear(profile.SecretKey(name))
		// Under auto the token goes to the kernel keyring, which outlives
		// the test.
		forgetKernelToken(keyring.Key(idp.TokenURL(), testAccount.KeyID, testAccount.Email))
	})
	r := runBinary(t, env, testSecret+"\n", "login", "--profile", name,
		"--key-id", testAccount.KeyID, "--email", testAccount.Email, "--token-endpoint", idp.TokenURL())
	if r.code != 0 {
		t.Fatalf("login: exit %d: %s", r.code, r.stderr)
	}
	loginRequests := idp.Requests()

	cfg := kubeconfigYAML(api.URL, ca, "token", "--profile", name)
	path := filepath.Join(home, "kubeconfig")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cfg, testSecret) || strings.Contains(cfg, testAccount.Email) {
		t.Fatal("the kubeconfig holds account details")
	}
	for i := range 2 {
		out, errOut, code := runKubectl(t, kubectl, env, path)
		if code != 0 || !strings.Contains(out, "v1.32.0-dt-test") {
			t.Fatalf("run %d: kubectl exit %d\nstdout: %s\nstderr: %s", i, code, out, errOut)
		}
		if strings.Contains(out+errOut, testSecret) {
			t.Fatal("kubectl output shows the secret")
		}
	}
	if authorized.Load() < 2 {
		t.Errorf("the API server authorized %d requests, want at least 2", authorized.Load())
	}
	if n := idp.Requests() - loginRequests; n > 1 {
		t.Errorf("%d token requests for two kubectl runs after login, want at most 1 (cached)", n)
	}
	// The token was cached in a keyring (the kernel's, under auto), not a
	// file (the cache directory holds only the refresh lock).
	if entries, _ := os.ReadDir(filepath.Join(home, "cache", "dt-credential-helper")); len(entries) > 0 {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "token-") && !strings.HasSuffix(e.Name(), ".lock") {
				t.Errorf("a token went to the file cache (%s), want the keyring", e.Name())
			}
		}
	}
}

// kubeconfigYAML is a kubeconfig for one cluster at server (trusting ca)
// whose user runs the built binary with args as an exec credential plugin.
// lookKubectl finds kubectl; without it the test skips, and in CI fails.
func lookKubectl(t *testing.T) string {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		testutil.SkipOutsideCI(t, "kubectl is not installed: install it to run this test")
	}
	return kubectl
}

func kubeconfigYAML(server string, ca []byte, args ...string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = strconv.Quote(a)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: dt
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: dt
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: %s
      args: [%s]
      interactiveMode: Never
      provideClusterInfo: false
contexts:
- name: dt
  context: {cluster: dt, user: dt}
current-context: dt
`, server, base64.StdEncoding.EncodeToString(ca), binary, strings.Join(quoted, ", "))
}

func runKubectl(t *testing.T, kubectl string, env []string, kubeconfig string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(kubectl, "--kubeconfig", kubeconfig, "get", "--raw", "/version")
	cmd.Env = env
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running kubectl: %v", err)
	}
	return o.String(), e.String(), code
}
