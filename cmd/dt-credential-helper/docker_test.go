package main

import (
	"fmt"
	"os"
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
	if again := get(t, "https://api.d21s.com:443"); again != first { // https's default port is no port
		t.Errorf("Get with port 443 returned another token, want the cached one")
	}
	if n := idp.Requests(); n != 1 {
		t.Errorf("%d token requests for four gets, want 1", n)
	}

	for _, serverURL := range []string{
		"https://registry.example.com",
		"https://api.d21s.com:8443",
		"https://api.d21s.com@registry.example.com",
		"https://registry.dt.example", // listed only with port 5000
		"https://api.d21s.com:80",     // port 80 is not https's default
		"api.d21s.com:80",             // no scheme is https
		"http://api.d21s.com",         // plain http only to loopback
		"http://registry.dt.example:5000",
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
	// A store for a registry the helper does not serve fails, so `docker
	// login` with credsStore "dt" reports it instead of saying "Login
	// Succeeded" and keeping nothing; the helper's message says what to do
	// and quotes nothing of the login.
	for _, serverURL := range []string{"https://registry.example.com", "http://api.d21s.com"} {
		err := client.Store(helper, &credentials.Credentials{ServerURL: serverURL, Username: "someone", Secret: "registry-pa55word"})
		if err == nil || !strings.Contains(err.Error(), "use credHelpers for DT hosts") || strings.Contains(err.Error(), "pa55word") {
			t.Errorf("Store for %s: %v, want an error saying to use credHelpers for DT hosts", serverURL, err)
		}
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

// TestDockerUsageErrors: docker reads a helper's errors on stdout, so a bad
// command line is reported there too, with exit status 1, whether the binary
// runs as "dt-credential-helper docker" or as docker-credential-dt.
func TestDockerUsageErrors(t *testing.T) {
	t.Parallel()
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env := baseEnv(t, idp.TokenURL())
	wantAction := func(n int) string {
		return fmt.Sprintf("docker: want one action (get, store, erase, list or version), got %d arguments; run '%s docker --help'\n", n, prog)
	}
	tests := []struct {
		name       string
		asHelper   bool // run as docker-credential-dt, args without "docker"
		args       []string
		wantStdout string
	}{
		{name: "unknown flag", args: []string{"--bogus", "get"}, wantStdout: "docker: unknown flag --bogus; run '" + prog + " docker --help' for its flags\n"},
		{name: "bad flag value", args: []string{"--timeout", "soon", "get"}, wantStdout: `docker: invalid value "soon" for flag -timeout: parse error` + "\n"},
		{name: "no action", args: nil, wantStdout: wantAction(0)},
		{name: "two actions", args: []string{"get", "list"}, wantStdout: wantAction(2)},
		{name: "bad timeout", args: []string{"--timeout", "0s", "get"}, wantStdout: "--timeout must be positive\n"},
		{name: "helper unknown flag", asHelper: true, args: []string{"--bogus", "get"}, wantStdout: "docker: unknown flag --bogus; run '" + prog + " docker --help' for its flags\n"},
		{name: "helper no action", asHelper: true, args: nil, wantStdout: wantAction(0)},
		{name: "helper extra argument", asHelper: true, args: []string{"get", "https://api.d21s.com"}, wantStdout: wantAction(2)},
	}
	// A group, so the parallel cases finish before the checks below and
	// the cleanup.
	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				var r result
				if tt.asHelper {
					r = runInProcessAs(t, dockerHelperName, env, "https://api.d21s.com\n", tt.args...)
				} else {
					r = runInProcess(t, env, "https://api.d21s.com\n", append([]string{"docker"}, tt.args...)...)
				}
				if diff := cmp.Diff(result{code: 1, stdout: tt.wantStdout}, r, cmp.AllowUnexported(result{})); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	})
	// --help is no error: usage on stdout, exit 0.
	for _, r := range []result{
		runInProcess(t, env, "", "docker", "--help"),
		runInProcessAs(t, dockerHelperName, env, "", "--help"),
	} {
		if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: ") || r.stderr != "" {
			t.Errorf("--help: exit %d, stdout %q, stderr %q; want usage on stdout, exit 0", r.code, r.stdout, r.stderr)
		}
	}
	if n := idp.Requests(); n != 0 {
		t.Errorf("%d token requests for bad command lines, want 0", n)
	}
}
