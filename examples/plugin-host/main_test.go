package main

import (
	"context"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

// TestPluginHost runs the example against the real dt-credential-helper
// plugin, built here. The DT identity service and API cannot run here: the
// emulator (auth/authtest) stands in for both.
func TestPluginHost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and launches dt-credential-helper")
	}
	// Installed as install.sh and go install lay it out: the plugin's own
	// program next to the helper, which the host launches.
	dir := t.TempDir()
	bin := filepath.Join(dir, "dt-credential-helper")
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator),
		"github.com/dt-credential-helper/dt-credential-helper/cmd/dt-credential-helper",
		"github.com/dt-credential-helper/dt-credential-helper/cmd/dt-credential-helper-plugin")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}

	acct := authtest.Account{KeyID: "host-key", Email: "host@project.serviceaccount.d21s.com", Secret: "host-secret-9Qm2"}
	srv := authtest.NewServer(acct)
	defer srv.Close()
	// The example passes its own environment on to the plugin.
	home := t.TempDir()
	for k, v := range map[string]string{
		"HOME":                      home,
		"XDG_CONFIG_HOME":           filepath.Join(home, "config"),
		"DT_CACHE_DIR":              filepath.Join(home, "cache"),
		"DT_TOKEN_CACHE":            "file",
		"DT_PROFILE":                "",
		"DT_CREDENTIALS_FILE":       "",
		"DT_SERVICE_ACCOUNT_KEY_ID": acct.KeyID,
		"DT_SERVICE_ACCOUNT_EMAIL":  acct.Email,
		"DT_SERVICE_ACCOUNT_SECRET": acct.Secret,
		"DT_TOKEN_ENDPOINT":         srv.TokenURL(),
	} {
		t.Setenv(k, v)
	}
	logs := &testutil.Buffer{}
	log.SetOutput(logs)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := srv.URL + "/v2/projects"
	if err := run(ctx, bin, url, "", 3, 10*time.Millisecond); err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, logs.String())
	}
	if got := strings.Count(logs.String(), ": 200 OK\n"); got != 3 {
		t.Errorf("%d calls answered 200, want 3; log:\n%s", got, logs.String())
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("%d token requests for 3 calls, want 1", n)
	}

	// The API stops accepting the cached token: the next run (a new plugin
	// process, same file cache) gets a 401, invalidates it and retries once
	// with a fresh token.
	tokens := srv.Tokens()
	if len(tokens) != 1 {
		t.Fatalf("the emulator issued %d tokens, want 1", len(tokens))
	}
	srv.Revoke(tokens[0].Token)
	logs = &testutil.Buffer{}
	log.SetOutput(logs)
	if err := run(ctx, bin, url, "", 1, 0); err != nil {
		t.Fatalf("run after revocation: %v\nlog:\n%s", err, logs.String())
	}
	out := logs.String()
	if !strings.Contains(out, "answered 401; invalidating the token and retrying once") || !strings.Contains(out, "call 1: 200 OK") {
		t.Errorf("want a 401, an invalidation and a successful retry; log:\n%s", out)
	}
	if n := srv.Requests(); n != 2 {
		t.Errorf("%d token requests after the revocation, want 2", n)
	}
	if strings.Contains(out, acct.Secret) {
		t.Errorf("log shows the secret")
	}
}
