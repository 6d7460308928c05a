package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
)

// runAs runs the built binary under another name (git-credential-dt,
// docker-credential-dt), as git and docker run it.
func runAs(t *testing.T, name string, env []string, stdin string, args ...string) result {
	t.Helper()
	link := filepath.Join(helperLinks(t), name)
	cmd := exec.Command(link, args...)
	cmd.Env, cmd.Stdin = env, strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("running %s: %v", name, err)
	}
	r := result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	checkNoLeak(t, r)
	return r
}

// TestHelperSaysWhyNoToken: git and docker ask a helper about every host; for
// one it does not serve, the protocols want silence (git: nothing, exit 0;
// docker: "credentials not found", exit 1). Under --verbose the helper says
// on stderr why it gave no token and how to add the host, which is the first
// thing a newcomer with a registry on a custom port needs to know.
func TestHelperSaysWhyNoToken(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env := withEnv(baseEnv(t, idp.TokenURL()), "DT_CREDENTIAL_HOSTS=registry.dt.example:5000")
	tests := []struct {
		name      string
		helper    string
		stdin     string
		wantWhy   []string // in the --verbose stderr
		notInLogs []string
	}{
		{"git other host", gitHelperName, "protocol=https\nhost=git.example.com\npath=secret/repo\nusername=alice\n\n",
			[]string{"git.example.com", "not an allowed host", "DT_CREDENTIAL_HOSTS", "login --hosts"}, []string{"secret/repo", "alice"}},
		{"git DT host on another port", gitHelperName, "protocol=https\nhost=api.d21s.com:8443\n\n",
			[]string{"api.d21s.com:8443", "not an allowed host", "DT_CREDENTIAL_HOSTS"}, nil},
		{"git listed host without its port", gitHelperName, "protocol=https\nhost=registry.dt.example\n\n",
			[]string{"registry.dt.example", "not an allowed host"}, nil},
		{"git plain http to a DT host", gitHelperName, "protocol=http\nhost=api.d21s.com\n\n",
			[]string{"api.d21s.com", "https", "loopback"}, nil},
		{"docker other host", dockerHelperName, "https://registry.example.com/v2/",
			[]string{"registry.example.com", "not an allowed host", "DT_CREDENTIAL_HOSTS", "login --hosts"}, nil},
		{"docker plain http to a DT host", dockerHelperName, "http://api.d21s.com",
			[]string{"api.d21s.com", "https", "loopback"}, nil},
		{"docker credentials in the URL", dockerHelperName, "https://user:pa55word@registry.example.com",
			[]string{"user information"}, []string{"pa55word", "user:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode, wantStdout := 0, ""
			if tt.helper == dockerHelperName {
				wantCode, wantStdout = 1, "credentials not found in native keychain\n"
			}
			quiet := runAs(t, tt.helper, env, tt.stdin, "get")
			if quiet.code != wantCode || quiet.stdout != wantStdout || quiet.stderr != "" {
				t.Errorf("without --verbose: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, no stderr",
					quiet.code, quiet.stdout, quiet.stderr, wantCode, wantStdout)
			}
			loud := runAs(t, tt.helper, env, tt.stdin, "--verbose", "get")
			if loud.code != wantCode || loud.stdout != wantStdout {
				t.Errorf("with --verbose: exit %d, stdout %q; want the same answer as without", loud.code, loud.stdout)
			}
			for _, w := range tt.wantWhy {
				if !strings.Contains(loud.stderr, w) {
					t.Errorf("--verbose stderr does not say %q:\n%s", w, loud.stderr)
				}
			}
			for _, w := range tt.notInLogs {
				if strings.Contains(loud.stderr, w) {
					t.Errorf("--verbose stderr shows %q:\n%s", w, loud.stderr)
				}
			}
		})
	}
	if n := idp.Requests(); n != 0 {
		t.Errorf("%d token requests for hosts that get no token, want 0", n)
	}
}
