package main

import (
	"slices"
	"testing"
)

// TestGitHelpersFor: the helper list git builds for https://HOST[:PORT],
// as git documents it: every matching setting in order, an empty value
// clearing the list so far; a URL-scoped setting matches by scheme, host
// (a "*" within a label), port, and not with a user or a path.
// TestDoctorGit checks the same against the real git's configuration.
func TestGitHelpersFor(t *testing.T) {
	entries := []gitEntry{
		{"credential.helper", "store"},
		{"credential.https://api.d21s.com.helper", ""},
		{"credential.https://api.d21s.com.helper", "dt"},
		{"credential.https://*.d21s.com.helper", "glob"},
		{"credential.https://api.d21s.com:8443.helper", "port"},
		{"credential.https://api.d21s.com/repo.git.helper", "path"},
		{"credential.https://me@api.d21s.com.helper", "user"},
		{"credential.http://api.d21s.com.helper", "http"},
		{"credential.api.d21s.com.helper", "no scheme"},
		{"credential.https://[::1]:5000.helper", "ipv6"},
	}
	for _, tc := range []struct {
		host, port string
		want       []string
	}{
		{"api.d21s.com", "", []string{"dt", "glob"}},
		{"API.D21S.com", "443", []string{"dt", "glob"}},
		{"api.d21s.com", "8443", []string{"store", "port"}},
		{"other.d21s.com", "", []string{"store", "glob"}},
		{"a.b.d21s.com", "", []string{"store"}},
		{"::1", "5000", []string{"store", "ipv6"}},
		{"example.com", "", []string{"store"}},
	} {
		if got := gitHelpersFor(entries, tc.host, tc.port); !slices.Equal(got, tc.want) {
			t.Errorf("https://%s:%s: %q, want %q", tc.host, tc.port, got, tc.want)
		}
	}
	for h, want := range map[string]bool{
		"dt": true, "dt --profile prod": true, "/usr/local/bin/git-credential-dt": true,
		"/opt/dt/bin/dt-credential-helper git": true, "!dt-credential-helper git --verbose": true,
		"store": false, "dt-other": false, "/usr/bin/dt-credential-helper": false, "cache --timeout 300": false,
	} {
		if got, _ := gitHelperIsOurs(h); got != want {
			t.Errorf("gitHelperIsOurs(%q) = %v, want %v", h, got, want)
		}
	}
	if _, p := gitHelperIsOurs("dt --profile prod --verbose"); p != "prod" {
		t.Errorf("the profile of \"dt --profile prod --verbose\": %q", p)
	}
}
