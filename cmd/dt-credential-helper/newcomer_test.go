package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
)

// TestHelperSaysWhyNoToken: git and docker ask a helper about every host; for
// one it does not serve, the protocols want silence (git: nothing, exit 0;
// docker: "credentials not found", exit 1). Under --verbose the helper says
// on stderr why it gave no token and how to add the host, which is the first
// thing a newcomer with a registry on a custom port needs to know.
func TestHelperSaysWhyNoToken(t *testing.T) {
	t.Parallel()
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
	// A group, so the parallel cases finish before the checks below and
	// the cleanup.
	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				wantCode, wantStdout := 0, ""
				if tt.helper == dockerHelperName {
					wantCode, wantStdout = 1, "credentials not found in native keychain\n"
				}
				quiet := runInProcessAs(t, tt.helper, env, tt.stdin, "get")
				if quiet.code != wantCode || quiet.stdout != wantStdout || quiet.stderr != "" {
					t.Errorf("without --verbose: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, no stderr",
						quiet.code, quiet.stdout, quiet.stderr, wantCode, wantStdout)
				}
				loud := runInProcessAs(t, tt.helper, env, tt.stdin, "--verbose", "get")
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
	})
	if n := idp.Requests(); n != 0 {
		t.Errorf("%d token requests for hosts that get no token, want 0", n)
	}
}

// helpFlags returns the flag names a --help output lists.
func helpFlags(help string) []string {
	var names []string
	for _, line := range strings.Split(help, "\n") {
		// flag.PrintDefaults: "  -name type" or "  -name", then the usage
		// indented on the next line.
		if rest, ok := strings.CutPrefix(line, "  -"); ok {
			names = append(names, strings.Fields(rest)[0])
		}
	}
	return names
}

// TestCommandHelpShowsOwnFlags: each command's --help lists the flags it
// reads and none that would do nothing there (status takes no refresh flags,
// version only its output format). Commands others are extending (login) are checked
// for what they must not list.
func TestCommandHelpShowsOwnFlags(t *testing.T) {
	t.Parallel()
	env := baseEnv(t, "http://127.0.0.1:1/oauth2/token") // never reached
	// A Vault path (and its login) stands in for a DT account anywhere one
	// is named.
	vault := []string{"vault-path", "vault-role", "vault-jwt-file", "vault-auth-mount"}
	fetch := append([]string{"profile", "key-id", "email", "token-endpoint", "credentials-file", "cache", "force-refresh", "refresh-buffer", "timeout", "verbose"}, vault...)
	without := func(names []string, drop ...string) []string {
		var out []string
		for _, n := range names {
			if !slices.Contains(drop, n) {
				out = append(out, n)
			}
		}
		return out
	}
	tests := []struct {
		command string
		want    []string // exactly these, when exact
		exact   bool
		not     []string
	}{
		{command: "token", want: append(slices.Clone(fetch), "o", "output"), exact: true},
		{command: "git", want: fetch, exact: true},
		{command: "docker", want: fetch, exact: true},
		{command: "exec", want: fetch, exact: true},
		// status reads the cache, it refreshes nothing; it lists every profile.
		{command: "status", want: append([]string{"key-id", "email", "token-endpoint", "credentials-file", "cache", "verbose", "o", "output"}, vault...), exact: true},
		{command: "version", want: []string{"o", "output"}, exact: true},
		// configure writes a tool's wiring; it fetches no token.
		{command: "configure", want: []string{"profile", "hosts", "dry-run", "local", "file", "user", "kubeconfig"}, exact: true},
		{command: "login", want: append([]string{"profile", "key-id", "email", "hosts", "verbose"}, vault...),
			not: []string{"force-refresh", "refresh-buffer", "credentials-file", "cache", "secret"}},
		// logout's account flags name whose cached tokens to remove when the
		// profile is no longer in the profiles file.
		{command: "logout", want: []string{"profile", "key-id", "email", "token-endpoint"},
			not: []string{"force-refresh", "refresh-buffer", "timeout", "credentials-file", "cache", "secret"}},
	}
	// The plugin's GetToken carries its own force_refresh.
	tests = append(tests, struct {
		command string
		want    []string
		exact   bool
		not     []string
	}{command: "plugin", want: without(fetch, "force-refresh"), exact: true})
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			r := runInProcess(t, env, "", tt.command, "--help")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			got := helpFlags(r.stdout)
			slices.Sort(got)
			if tt.exact {
				want := slices.Sorted(slices.Values(tt.want))
				if !slices.Equal(got, want) {
					t.Errorf("%s --help lists %v, want %v:\n%s", tt.command, got, want, r.stdout)
				}
			}
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("%s --help does not list -%s", tt.command, w)
				}
			}
			for _, n := range append(tt.not, "secret") {
				if slices.Contains(got, n) {
					t.Errorf("%s --help lists -%s, which does nothing there", tt.command, n)
				}
			}
		})
	}
}

// TestSecretFlag: --secret is refused by every command with what to do
// instead, without the generic "flag provided but not defined", and without
// echoing the value.
func TestSecretFlag(t *testing.T) {
	t.Parallel()
	env := baseEnv(t, "http://127.0.0.1:1/oauth2/token") // never reached
	const value = "cmdline-" + testSecret
	for _, args := range [][]string{
		{"--secret", value},
		{"token", "--secret", value},
		{"token", "--secret=" + value, "-o", "token"},
		{"token", "-o", "token", "-secret", value},
		{"token", "--secret"},
		{"git", "--secret", value, "get"},
		{"exec", "--secret", value, "--", "true"},
		{"status", "--secret", value},
		{"login", "--profile", "p", "--secret", value},
		{"logout", "--profile", "p", "--secret", value},
		{"version", "--secret", value},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			r := runInProcess(t, env, "", args...)
			if r.code != 2 || r.stdout != "" {
				t.Errorf("exit %d, stdout %q; want exit 2, no stdout", r.code, r.stdout)
			}
			if strings.Count(r.stderr, "\n") != 1 || strings.Contains(r.stderr, "not defined") {
				t.Errorf("stderr %q: want one line that is not the generic unknown-flag error", r.stderr)
			}
			want := []string{"never", "command line", "DT_SERVICE_ACCOUNT_SECRET", "credentials file", "login"}
			if args[0] == "login" {
				// Where login itself reads it (TestLoginSecretFlagNotCircular).
				want = []string{"never", "command line", "DT_SERVICE_ACCOUNT_SECRET", "stdin", "prompt"}
			}
			for _, w := range want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q does not say %q", r.stderr, w)
				}
			}
			if strings.Contains(r.stderr, "cmdline-") {
				t.Errorf("stderr echoes the value given: %q", r.stderr)
			}
		})
	}
	// docker-credential-dt reports on stdout with exit 1, as its protocol
	// wants for every error, a bad command line included.
	r := runInProcessAs(t, dockerHelperName, env, "", "--secret", value, "get")
	if r.code != 1 || !strings.Contains(r.stdout, "DT_SERVICE_ACCOUNT_SECRET") || strings.Contains(r.stdout, "cmdline-") {
		t.Errorf("%s --secret: exit %d, stdout %q", dockerHelperName, r.code, r.stdout)
	}
}

// TestHelpSaysNoCommandIsToken: run bare, the program prints a token, which
// surprises whoever runs it to see what it does; --help says so.
func TestHelpSaysNoCommandIsToken(t *testing.T) {
	t.Parallel()
	env := baseEnv(t, "http://127.0.0.1:1/oauth2/token")
	r := runInProcess(t, env, "", "--help")
	if !strings.Contains(r.stdout, "Without a COMMAND") || !strings.Contains(r.stdout, "runs 'token'") {
		t.Errorf("--help does not say what no command does:\n%s", r.stdout)
	}
	r = runInProcess(t, env, "", "token", "--help")
	if !strings.Contains(r.stdout, "no command") {
		t.Errorf("token --help does not say it is what no command runs:\n%s", r.stdout)
	}
}
