package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/docker/docker-credential-helpers/client"
	"github.com/docker/docker-credential-helpers/credentials"
	"github.com/google/go-cmp/cmp"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/hosts"
)

// TestDockerClient drives docker-credential-dt with docker's own client
// library, the code docker and other tools use to talk to credential helpers.
// The DT identity service cannot run here: DT_TOKEN_ENDPOINT points at the
// in-process emulator (auth/authtest), while the server URLs asked for are the
// real DT hosts, which only decide whether a token is handed out.
//
// client.NewShellProgramFunc runs the helper found on this process's PATH
// with this process's environment, so the test sets both with t.Setenv and
// cannot run in parallel.
func TestDockerClient(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env := withEnv(baseEnv(t, idp.TokenURL()),
		"PATH="+helperLinks(t)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"DT_CREDENTIAL_HOSTS=registry.dt.example:5000")
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	// Whatever the test process inherited must not choose the account.
	for _, k := range []string{"DT_PROFILE", "DT_CREDENTIALS_FILE", "XDG_CACHE_HOME", "KUBERNETES_EXEC_INFO", "DT_CREDENTIAL_HELPER_PLUGIN"} {
		t.Setenv(k, "")
	}
	helper := client.NewShellProgramFunc(dockerHelperName)

	get := func(t *testing.T, serverURL string) string {
		t.Helper()
		c, err := client.Get(helper, serverURL)
		if err != nil {
			t.Fatalf("Get(%s): %v", serverURL, err)
		}
		if c.ServerURL != serverURL || c.Username != "oauth2accesstoken" || !idp.Valid(c.Secret) {
			t.Fatalf("Get(%s): ServerURL %q, Username %q, valid secret %v", serverURL, c.ServerURL, c.Username, idp.Valid(c.Secret))
		}
		return c.Secret
	}

	first := get(t, "https://api.d21s.com")
	if again := get(t, "api.disruptive-technologies.com"); again != first {
		t.Errorf("second Get returned another token, want the cached one")
	}
	if again := get(t, "https://registry.dt.example:5000/v2/"); again != first {
		t.Errorf("Get for a DT_CREDENTIAL_HOSTS host returned another token, want the cached one")
	}
	if n := idp.Requests(); n != 1 {
		t.Errorf("%d token requests for three gets, want 1", n)
	}

	for _, serverURL := range []string{
		"https://registry.example.com",
		"https://api.d21s.com:8443",
		"https://api.d21s.com@registry.example.com",
		"https://registry.dt.example", // listed only with port 5000
	} {
		_, err := client.Get(helper, serverURL)
		if !credentials.IsErrCredentialsNotFound(err) {
			t.Errorf("Get(%s): %v, want credentials not found", serverURL, err)
		}
	}
	if n := idp.Requests(); n != 1 {
		t.Errorf("%d token requests after gets for other hosts, want still 1", n)
	}

	list, err := client.List(helper)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want := map[string]string{"https://registry.dt.example:5000": "oauth2accesstoken"}
	for _, h := range hosts.DefaultHosts() {
		want["https://"+h] = "oauth2accesstoken"
	}
	if diff := cmp.Diff(want, list); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}

	// Store is accepted and ignored: the next Get still hands out the token.
	if err := client.Store(helper, &credentials.Credentials{ServerURL: "https://api.d21s.com", Username: "someone", Secret: "not-a-dt-token"}); err != nil {
		t.Errorf("Store: %v", err)
	}
	if got := get(t, "https://api.d21s.com"); got != first {
		t.Errorf("Get after Store returned another token, want the cached one")
	}
	// client.Store flattens the error with %v; the helper's message is in it.
	if err := client.Store(helper, &credentials.Credentials{ServerURL: "https://api.d21s.com", Secret: "x"}); err == nil ||
		!strings.HasSuffix(err.Error(), "out: `no credentials username`") {
		t.Errorf("Store without a username: %v, want missing username", err)
	}

	if err := client.Erase(helper, "https://registry.example.com"); err == nil || !strings.Contains(err.Error(), "credentials not found") {
		t.Errorf("Erase for another host: %v, want credentials not found", err)
	}
	if err := client.Erase(helper, "https://api.d21s.com"); err != nil {
		t.Fatalf("Erase: %v", err)
	}
	second := get(t, "https://api.d21s.com")
	if second == first {
		t.Errorf("Get after Erase returned the erased token")
	}
	if n := idp.Requests(); n != 2 {
		t.Errorf("%d token requests after Erase and Get, want 2", n)
	}
}

// TestDockerClientOnlyInTests: docker's client library is for driving
// helpers, which the binary never does; it may only be a test dependency.
func TestDockerClientOnlyInTests(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "github.com/docker/docker-credential-helpers/client" {
			t.Errorf("the binary depends on %s; import it from _test.go files only", pkg)
		}
	}
}
