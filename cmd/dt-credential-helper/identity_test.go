package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
)

// A cached token is served only to the identity that obtained it: a caller
// presenting another DT secret is not served the token the right one
// cached. The DT identity service is the emulator (auth/authtest).

// TestCachedTokenNeedsItsSecret: after the right secret fills the cache, a
// wrong one, from the environment or from a credentials file, is not
// served the cached token: it is refused by the identity service (one
// request each) and the call fails with exit 1; the right secret is still
// served from the cache.
func TestCachedTokenNeedsItsSecret(t *testing.T) {
	t.Parallel()
	srv := authtest.NewServer(testAccount)
	t.Cleanup(srv.Close)
	env := baseEnv(t, srv.TokenURL())
	r := runBinary(t, env, "", "token", "-o", "token")
	cached := strings.TrimSpace(r.stdout)
	if r.code != 0 || !srv.Valid(cached) {
		t.Fatalf("filling the cache: exit %d: %s", r.code, r.stderr)
	}

	credsFile := filepath.Join(t.TempDir(), "credentials.json")
	creds := fmt.Sprintf(`{"serviceAccount":{"keyId":%q,"email":%q,"secret":"wrong-secret-from-a-file","tokenEndpoint":%q}}`,
		testAccount.KeyID, testAccount.Email, srv.TokenURL())
	if err := os.WriteFile(credsFile, []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		name string
		env  []string
	}{
		{"a wrong secret in the environment", withEnv(env, "DT_SERVICE_ACCOUNT_SECRET=wrong-secret")},
		{"a wrong secret in a credentials file", withEnv(withoutEnv(env, "DT_SERVICE_ACCOUNT_SECRET", "DT_SERVICE_ACCOUNT_KEY_ID",
			"DT_SERVICE_ACCOUNT_EMAIL", "DT_TOKEN_ENDPOINT"), "DT_CREDENTIALS_FILE="+credsFile)},
	} {
		r := runBinary(t, c.env, "", "token", "-o", "token")
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "invalid_grant") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1, no token, the identity service's invalid_grant", c.name, r.code, r.stdout, r.stderr)
		}
		if n := srv.Requests(); n != 2+i {
			t.Errorf("%s: %d token requests, want %d (the refused one)", c.name, n, 2+i)
		}
		// Nor does status call the cached token this caller's.
		r = runBinary(t, c.env, "", "status")
		if r.code != 0 || !regexp.MustCompile(`(?m)^\((environment|credentials file)\) .* none\b`).MatchString(r.stdout) {
			t.Errorf("%s: status: exit %d, stdout:\n%s\nwant no cached token for the environment's account", c.name, r.code, r.stdout)
		}
	}
	r = runBinary(t, env, "", "token", "-o", "token")
	if r.code != 0 || strings.TrimSpace(r.stdout) != cached {
		t.Errorf("the right secret again: exit %d, stderr %q; want the cached token", r.code, r.stderr)
	}
	if n := srv.Requests(); n != 3 {
		t.Errorf("%d token requests after the right secret came back, want 3 (it is served from the cache)", n)
	}
}

// TestLoginForgetsCachedTokens: login, with or without --no-verify, and with
// the secret kept in a file or in the Secret Service, removes the tokens
// cached for the profile's account, so that a profile stored with another
// secret is never served (nor shown by status as holding) a token its
// earlier secret obtained.
func TestLoginForgetsCachedTokens(t *testing.T) {
	for _, store := range []string{"file", "keyring"} {
		t.Run(store, func(t *testing.T) {
			f := newLoginFixture(t)
			// The default cache mode: auto, whichever store that finds.
			env := withoutEnv(f.env, "DT_TOKEN_CACHE")
			if store == "file" {
				env = withEnv(env, "DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus")
			} else {
				needKeyringSession(t)
			}
			login := append(f.loginArgs(f.profile), "--store", store)
			statusLine := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(f.profile) + ` .*$`)
			status := func(t *testing.T) string {
				t.Helper()
				r := runFor(t, runLimit, env, "", "status")
				if r.code != 0 {
					t.Fatalf("status: exit %d: %s", r.code, r.stderr)
				}
				return statusLine.FindString(r.stdout)
			}

			if r := runFor(t, runLimit, env, testSecret+"\n", login...); r.code != 0 {
				t.Fatalf("login: exit %d: %s", r.code, r.stderr)
			}
			r := runFor(t, runLimit, env, "", "token", "--profile", f.profile, "-o", "token")
			if r.code != 0 || !f.srv.Valid(strings.TrimSpace(r.stdout)) {
				t.Fatalf("token: exit %d: %s", r.code, r.stderr)
			}
			f.wantRequests(t, 2, "login and the first token call")
			if l := status(t); !strings.Contains(l, "valid until") {
				t.Fatalf("status after the first token call: %q, want a valid cached token", l)
			}

			r = runFor(t, runLimit, env, "wrong-secret\n", append(login, "--no-verify")...)
			if r.code != 0 {
				t.Fatalf("login --no-verify: exit %d: %s", r.code, r.stderr)
			}
			if l := strings.Fields(status(t)); slices.Contains(l, "valid") || len(l) < 2 || l[len(l)-2] != "none" {
				t.Errorf("status after login --no-verify with another secret: %q; want no cached token", l)
			}
			r = runFor(t, runLimit, env, "", "token", "--profile", f.profile, "-o", "token")
			if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "invalid_grant") {
				t.Errorf("token after login --no-verify with a wrong secret: exit %d, stdout %q, stderr %q; want exit 1 and invalid_grant", r.code, r.stdout, r.stderr)
			}
			f.wantRequests(t, 3, "the wrong secret's token call")

			// A verified login of the right secret again: its first token
			// call fetches, as the earlier entry went with the login.
			if r := runFor(t, runLimit, env, testSecret+"\n", login...); r.code != 0 {
				t.Fatalf("login again: exit %d: %s", r.code, r.stderr)
			}
			for range 2 {
				if r := runFor(t, runLimit, env, "", "token", "--profile", f.profile, "-o", "token"); r.code != 0 {
					t.Fatalf("token after the new login: exit %d: %s", r.code, r.stderr)
				}
			}
			f.wantRequests(t, 5, "a new login and two token calls")
		})
	}
}
