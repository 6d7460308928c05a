package main

import (
	"encoding/json"
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

// TestProfileTokenNeedsItsProfile: a profile is served only the tokens it
// cached itself, not those another profile of the same service account, or
// the environment's secret, obtained: a profile stored with a wrong secret
// (login --no-verify) is refused by the identity service (one request) and
// exits 1 after the right secret filled the cache, and status does not call
// the cached token its own. A profile saved before profiles had a cache
// nonce (no cache_nonce in the profiles file) is told apart by its name.
// The DT identity service is the emulator (auth/authtest).
func TestProfileTokenNeedsItsProfile(t *testing.T) {
	t.Parallel()
	srv := authtest.NewServer(testAccount)
	t.Cleanup(srv.Close)
	env := baseEnv(t, srv.TokenURL())
	login := func(name, secret string, extra ...string) {
		t.Helper()
		args := append([]string{"login", "--profile", name, "--key-id", testAccount.KeyID, "--email", testAccount.Email,
			"--token-endpoint", srv.TokenURL(), "--store", "file"}, extra...)
		if r := runBinary(t, env, secret+"\n", args...); r.code != 0 {
			t.Fatalf("login --profile %s: exit %d: %s", name, r.code, r.stderr)
		}
	}
	requests := 0
	token := func(when string, wantOK bool, args ...string) string {
		t.Helper()
		r := runBinary(t, env, "", append([]string{"token", "-o", "token"}, args...)...)
		requests++
		switch tok := strings.TrimSpace(r.stdout); {
		case wantOK && (r.code != 0 || !srv.Valid(tok)):
			t.Errorf("%s: exit %d, stderr %q; want a token", when, r.code, r.stderr)
		case !wantOK && (r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "invalid_grant")):
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1, no token, the identity service's invalid_grant", when, r.code, r.stdout, r.stderr)
		}
		if n := srv.Requests(); n != requests {
			t.Errorf("%s: %d token requests, want %d (one for this call)", when, n, requests)
			requests = n
		}
		return r.stdout
	}
	statusSays := func(when, name, want string) {
		t.Helper()
		r := runBinary(t, env, "", "status")
		line := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` .* ` + regexp.QuoteMeta(want) + ` `)
		if r.code != 0 || !line.MatchString(r.stdout) {
			t.Errorf("%s: status: exit %d, stdout:\n%s\nwant %s's token %q", when, r.code, r.stdout, name, want)
		}
	}

	login("good", testSecret)
	requests++ // the login's check
	login("bad", "wrong-secret", "--no-verify")
	token("bad, cold cache", false, "--profile", "bad")
	token("good", true, "--profile", "good")
	token("bad, after good cached its token", false, "--profile", "bad")
	statusSays("after good cached its token", "bad", "none (cached for another identity)")

	// The environment's account, with the right secret, fills the cache
	// after a login of bad forgot good's token.
	login("bad", "wrong-secret", "--no-verify")
	token("the environment's secret", true)
	token("bad, after the environment cached its token", false, "--profile", "bad")
	statusSays("after the environment cached its token", "bad", "none (cached for another identity)")

	// Profiles saved before they had a cache nonce: the profiles file as an
	// earlier version wrote it.
	path := profilesPath(t, env)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]any
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	for _, p := range file["profiles"].(map[string]any) {
		delete(p.(map[string]any), "cache_nonce")
	}
	if data, err = json.Marshal(file); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	token("good, saved without a cache nonce", true, "--profile", "good")
	token("bad, saved without a cache nonce", false, "--profile", "bad")
	statusSays("saved without a cache nonce", "bad", "none (cached for another identity)")
}
