package keyring_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken"
)

// The sources this module caches are upstreams of the cache as they are:
// keyring defines the interface, they need not know it.
var (
	_ keyring.Upstream = (*auth.Source)(nil)
	_ keyring.Upstream = (*auth.ReuseSource)(nil)
	_ keyring.Upstream = (*vaulttoken.Source)(nil)
)

// keyring restates a few of auth's rules rather than import auth (see
// keyring's fresh and checkToken). These tests keep the copies in step: a
// token the exchange hands out must be one the cache keeps and serves back,
// and refuses on read what the exchange refuses on the wire.

func TestLimitsMatchAuth(t *testing.T) {
	if keyring.MaxTokenSize != auth.MaxTokenSize {
		t.Errorf("keyring's token size limit is %d, auth's %d", keyring.MaxTokenSize, auth.MaxTokenSize)
	}
	if keyring.MaxLifetime != auth.MaxLifetime {
		t.Errorf("keyring's lifetime cap is %v, auth's %v", keyring.MaxLifetime, auth.MaxLifetime)
	}
	if keyring.DefaultRefreshBuffer != auth.DefaultRefreshBuffer {
		t.Errorf("keyring's default refresh buffer is %v, auth's %v", keyring.DefaultRefreshBuffer, auth.DefaultRefreshBuffer)
	}
}

// tokenCases are tokens either side of every branch of the b64token rule.
func tokenCases() []string {
	cases := []string{
		"", "=", "==", "a", "a=", "a==", "=a", "a=b", "abc.DEF-123_~+/", "a b", "a\tb", "a\nb", "a\r\nb",
		"a\x00", "ä", "a\"b", "a,b", "a;b", "a:b", "a\\b", "a%2F", "Bearer abc",
		strings.Repeat("A", auth.MaxTokenSize), strings.Repeat("A", auth.MaxTokenSize+1),
		strings.Repeat("A", auth.MaxTokenSize-2) + "==", strings.Repeat("=", auth.MaxTokenSize+1),
	}
	for c := range 256 {
		cases = append(cases, string([]byte{byte(c)}), "tok"+string([]byte{byte(c)}))
	}
	return cases
}

func checkBoth(t *testing.T, tok string) {
	t.Helper()
	a, k := auth.CheckToken(tok), keyring.CheckToken(tok)
	if (a == nil) != (k == nil) || (a != nil && a.Error() != k.Error()) {
		t.Errorf("token of %d bytes (%q...): auth.CheckToken = %v, keyring's check = %v", len(tok), tok[:min(len(tok), 8)], a, k)
	}
}

func TestCheckTokenMatchesAuth(t *testing.T) {
	for _, tok := range tokenCases() {
		checkBoth(t, tok)
	}
}

func FuzzCheckTokenMatchesAuth(f *testing.F) {
	for _, tok := range tokenCases() {
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, tok string) { checkBoth(t, tok) })
}

// TestCachedTokenCheckMatchesAuth checks the rule where it applies: an entry
// holding a token is good exactly when auth would hand that token out.
func TestCachedTokenCheckMatchesAuth(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tok := range tokenCases() {
		e := keyring.NewEntry(&oauth2.Token{AccessToken: tok, TokenType: "Bearer", Expiry: now.Add(time.Hour)}, keyring.Account{}, now)
		_, derr := keyring.DecodeEntry(e.Encode())
		if aerr := auth.CheckToken(tok); (aerr == nil) != (derr == nil) {
			t.Errorf("token of %d bytes (%q...): auth.CheckToken = %v, but the cache entry decodes with %v", len(tok), tok[:min(len(tok), 8)], aerr, derr)
		}
	}
}

func TestFreshAndClampMatchAuth(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	durations := []time.Duration{-time.Hour, -time.Second, 0, time.Nanosecond, time.Second, 30 * time.Second, time.Minute, time.Minute + time.Nanosecond, time.Hour, 24 * time.Hour}
	for _, buffer := range durations {
		for _, left := range durations {
			for _, tok := range []*oauth2.Token{nil, {}, {AccessToken: "a", Expiry: now.Add(left)}, {Expiry: now.Add(left)}} {
				if a, k := auth.Fresh(tok, buffer, now), keyring.Fresh(tok, buffer, now); a != k {
					t.Errorf("buffer %v, token %+v: auth.Fresh = %v, keyring's = %v", buffer, tok, a, k)
				}
			}
			if a, k := auth.ClampBuffer(buffer, left), keyring.ClampBuffer(buffer, left); a != k {
				t.Errorf("ClampBuffer(%v, %v): auth's = %v, keyring's = %v", buffer, left, a, k)
			}
		}
	}
}

// TestTransientMatchesAuth: the cache serves a still-valid token on exactly
// the failures auth calls transient, and on vaulttoken's Temporary ones,
// knowing neither package's types.
func TestTransientMatchesAuth(t *testing.T) {
	var errs []error
	for _, kind := range []auth.Kind{0, auth.Transient, auth.Rejected, auth.BadResponse} {
		e := &auth.Error{Kind: kind, Endpoint: "https://example.test/token", KeyID: "k", Err: errors.New("simulated")}
		errs = append(errs, e, fmt.Errorf("refreshing: %w", e), errors.Join(errors.New("other"), e))
	}
	for _, err := range errs {
		if a, k := auth.IsTransient(err), keyring.Transient(err); a != k {
			t.Errorf("%v: auth.IsTransient = %v, the cache's = %v", err, a, k)
		}
	}
	for _, kind := range []vaulttoken.Kind{vaulttoken.Transient, vaulttoken.Denied, vaulttoken.Rejected, vaulttoken.NotFound, vaulttoken.BadResponse, vaulttoken.Misconfigured} {
		e := &vaulttoken.Error{Kind: kind, Msg: "simulated"}
		if want, got := kind == vaulttoken.Transient, keyring.Transient(fmt.Errorf("refreshing: %w", e)); want != got {
			t.Errorf("vaulttoken kind %d: transient = %v, want %v", kind, got, want)
		}
	}
	for _, err := range []error{nil, errors.New("plain"), &auth.ConfigError{Msg: "bad"}} {
		if keyring.Transient(err) {
			t.Errorf("%v is transient to the cache", err)
		}
	}
}
