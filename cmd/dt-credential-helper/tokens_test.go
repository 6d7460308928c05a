package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// Process-level tests of what the helper believes of server answers and
// cache entries (issue 9, items 2(b), 5-8). The DT identity service cannot
// be made to grant short-lived tokens or odd answers on demand: the
// in-process emulator (auth/authtest) stands in for it.

// TestShortLivedTokensRefreshOnce: a server granting 30 s tokens against the
// default 60 s refresh buffer. The buffer is cut to half the token's life,
// so 8 processes started together make one token request, and a later call
// is served from the cache and says, under --verbose, that the buffer was
// cut.
func TestShortLivedTokensRefreshOnce(t *testing.T) {
	srv := authtest.NewServer(testAccount)
	t.Cleanup(srv.Close)
	srv.SetTokenTTL(30 * time.Second)
	// A slow endpoint, so that every process starts while the first one is
	// still refreshing.
	srv.InjectAlways(authtest.Fault{Delay: 300 * time.Millisecond})
	env := baseEnv(t, srv.TokenURL())
	const n = 8
	tokens := concurrentTokens(t, env, n)
	if got := srv.Requests(); got != 1 {
		t.Errorf("%d parallel calls with 30 s tokens made %d token requests, want 1", n, got)
	}
	for i, tok := range tokens {
		if !srv.Valid(tok) || tok != tokens[0] {
			t.Errorf("process %d printed another token than process 0, or an invalid one", i)
		}
	}

	r := runFor(t, runLimit, env, "", "token", "-o", "token", "--verbose")
	if got := strings.TrimSuffix(r.stdout, "\n"); r.code != 0 || got != tokens[0] || srv.Requests() != 1 {
		t.Errorf("the call after: exit %d, %d requests; want the cached token", r.code, srv.Requests())
	}
	if c := strings.Count(r.stderr, "refresh buffer clamped"); c != 1 {
		t.Errorf("--verbose says %d times that the buffer was clamped, want once:\n%s", c, r.stderr)
	}
	if strings.Contains(r.stderr, tokens[0]) {
		t.Errorf("--verbose shows the token")
	}
}

// TestCacheEntriesNotBelieved plants entries in the file cache under the
// account's key that must not be served: another account's entry (as if its
// file had been renamed onto this account's name), one another secret of the
// account obtained, one written by a clock
// far ahead (expiring in 2099), one holding a token with a header injection,
// and one of the previous format. Each call refreshes once, prints the new
// token and caches it over the planted entry.
func TestCacheEntriesNotBelieved(t *testing.T) {
	t.Parallel()
	const planted = "planted-token-Jx8Qw2"
	far := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		entry func(acct keyring.Account) []byte
	}{
		{"another key id", func(acct keyring.Account) []byte {
			acct.KeyID = "other-key"
			return keyring.NewEntry(&oauth2.Token{AccessToken: planted, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, acct, time.Now()).Encode()
		}},
		{"another email", func(acct keyring.Account) []byte {
			acct.Email = "other@project.serviceaccount.d21s.com"
			return keyring.NewEntry(&oauth2.Token{AccessToken: planted, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, acct, time.Now()).Encode()
		}},
		{"another endpoint", func(acct keyring.Account) []byte {
			acct.Endpoint = auth.DefaultTokenEndpoint
			return keyring.NewEntry(&oauth2.Token{AccessToken: planted, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, acct, time.Now()).Encode()
		}},
		{"another secret's", func(acct keyring.Account) []byte {
			acct.Identity = keyring.NewIdentity(keyring.Key(acct.Endpoint, acct.KeyID, acct.Email), "another-secret")
			return keyring.NewEntry(&oauth2.Token{AccessToken: planted, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, acct, time.Now()).Encode()
		}},
		{"expiring in 2099", func(acct keyring.Account) []byte {
			return keyring.NewEntry(&oauth2.Token{AccessToken: planted, TokenType: "Bearer", Expiry: far}, acct, far.Add(-time.Hour)).Encode()
		}},
		{"header injection", func(acct keyring.Account) []byte {
			return keyring.NewEntry(&oauth2.Token{AccessToken: planted + "\r\nX-Injected: 1", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, acct, time.Now()).Encode()
		}},
		{"previous format", func(acct keyring.Account) []byte {
			return fmt.Appendf(nil, `{"v":1,"access_token":%q,"token_type":"Bearer","expiry":%q,"endpoint":%q,"key_id":%q}`,
				planted, time.Now().Add(time.Hour).UTC().Format(time.RFC3339), acct.Endpoint, acct.KeyID)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := authtest.NewServer(testAccount)
			t.Cleanup(srv.Close)
			env := baseEnv(t, srv.TokenURL())
			acct := keyring.Account{Endpoint: srv.TokenURL(), KeyID: testAccount.KeyID, Email: testAccount.Email}
			store := keyring.NewFileStore(envValue(env, "DT_CACHE_DIR"))
			key := keyring.Key(acct.Endpoint, acct.KeyID, acct.Email)
			// As this environment's secret would have obtained it: each
			// entry is refused for its own reason.
			acct.Identity = keyring.NewIdentity(key, testSecret)
			if err := store.Set(key, c.entry(acct)); err != nil {
				t.Fatal(err)
			}
			r := runInProcess(t, env, "", "token", "-o", "header")
			tok, ok := strings.CutPrefix(strings.TrimSuffix(r.stdout, "\n"), "Authorization: Bearer ")
			if r.code != 0 || r.stderr != "" || !ok || !srv.Valid(tok) || strings.Count(r.stdout, "\n") != 1 {
				t.Fatalf("exit %d, stdout %q, stderr %q; want the header with a new token", r.code, r.stdout, r.stderr)
			}
			if n := srv.Requests(); n != 1 {
				t.Errorf("%d token requests, want 1", n)
			}
			data, err := store.Get(key)
			if err != nil {
				t.Fatal(err)
			}
			if e, err := keyring.DecodeEntry(data); err != nil || e.AccessToken != tok || e.CheckFor(acct, time.Now()) != nil {
				t.Errorf("the cache does not hold the new token for this account: %v", err)
			}
		})
	}
}

// writeDueEntry stores tok under key as an entry of acct obtained an hour
// before its expiry, which is left from now: with left under the default
// refresh buffer, the next call finds it due for refresh but not expired.
// The binary's clock cannot be moved; this is the entry it would have
// written an hour before. (A --refresh-buffer longer than the token's
// lifetime no longer makes a token due: it is cut to half the lifetime.)
func writeDueEntry(t *testing.T, store keyring.Store, key string, acct keyring.Account, tok string, left time.Duration) []byte {
	t.Helper()
	expiry := time.Now().Add(left)
	data := keyring.NewEntry(&oauth2.Token{AccessToken: tok, TokenType: "Bearer", Expiry: expiry}, acct, expiry.Add(-time.Hour)).Encode()
	if err := store.Set(key, data); err != nil {
		t.Fatal(err)
	}
	return data
}
