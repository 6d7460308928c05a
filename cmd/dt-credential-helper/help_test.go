package main

import (
	"strings"
	"testing"
)

// TestHelpExplains (issue 19, item 6): the help of the commands other
// programs run says what each action does and what the caller sends, not
// only the flags; the program's help and logout's name the stores tokens
// are really kept in.
func TestHelpExplains(t *testing.T) {
	t.Parallel()
	env := baseEnv(t, "http://127.0.0.1:1/oauth2/token") // never reached
	tests := []struct {
		args []string
		want []string
		not  []string
	}{
		{args: []string{"git", "--help"}, want: []string{
			gitHelperName, "credential.helper", // how git runs it
			"get", "store", "erase", // each action
			"protocol=", "host=", "wwwauth[]", "capability[]=authtype", // what git sends
			"password=", "authtype=Bearer", "password_expiry_utc", // what it answers
			"DT_CREDENTIAL_HOSTS", "nothing", // other hosts
		}},
		{args: []string{"docker", "--help"}, want: []string{
			dockerHelperName, "credHelpers",
			"get", "store", "erase", "list", "version",
			"server URL", "stdin", "ServerURL", "Secret", "stdout", "exit 1",
			"DT_CREDENTIAL_HOSTS",
		}},
		{args: []string{"plugin", "--help"}, want: []string{
			"go-plugin", pluginCookieKey, "dt-token-provider", "gRPC",
			"GetToken", "InvalidateToken", "WatchToken", "profile",
			pluginProg,
		}},
		{args: []string{"status", "--help"}, want: []string{
			"profile", "credentials file", "environment", "secret", "token store", "cached token", "never", "-o json",
		}},
		{args: []string{"--help"}, want: []string{"kernel keyring", "Secret Service", "files"}, not: []string{"OS keyring"}},
		{args: []string{"logout", "--help"}, want: []string{"kernel keyring", "Secret Service", "file cache", "secret file"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			r := runInProcess(t, env, "", tt.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			// What is said before the flag list; the flags' own words do
			// not count.
			about, _, _ := strings.Cut(r.stdout, "\nFlags:")
			for _, w := range tt.want {
				if !strings.Contains(about, w) {
					t.Errorf("does not say %q:\n%s", w, about)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(r.stdout, w) {
					t.Errorf("says %q:\n%s", w, r.stdout)
				}
			}
		})
	}
}
