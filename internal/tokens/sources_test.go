package tokens

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
)

// A failed secret read (the keyring timed out, or the secret is not stored
// yet) is not remembered: a long-lived process recovers on its next
// refresh, and once the exchange is built it reads the secret no more.
func TestProfileExchangeRetriesAFailedSecretRead(t *testing.T) {
	acct := authtest.Account{KeyID: "k1", Email: "sa@example.com", Secret: "s3cret"}
	srv := authtest.NewServer(acct)
	defer srv.Close()
	home := t.TempDir()
	env := mapEnv(map[string]string{"HOME": home})
	profiles := profile.NewRepository(env, 0, nil)
	path, err := profiles.Path()
	if err != nil {
		t.Fatal(err)
	}
	err = profiles.Update(t.Context(), func(f *profile.File) (bool, error) {
		f.Profiles["p"] = profile.Profile{KeyID: acct.KeyID, Email: acct.Email, TokenEndpoint: srv.TokenURL(), SecretStore: profile.SecretInFile}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	x := &profileExchange{profiles: profiles, profile: "p",
		creds: auth.Credentials{KeyID: acct.KeyID, Email: acct.Email, TokenEndpoint: srv.TokenURL()}}

	if _, err := x.TokenContext(context.Background()); !misconfig.Is(err) {
		t.Fatalf("first call, no secret stored: %v, want the repository's configuration error", err)
	}
	secrets, err := profiles.Secrets(profile.SecretInFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := secrets.Set(profile.SecretKey("p"), []byte(acct.Secret)); err != nil {
		t.Fatal(err)
	}
	tok, err := x.TokenContext(context.Background())
	if err != nil || !srv.Valid(tok.AccessToken) {
		t.Fatalf("after the secret was stored: %v, %v", tok, err)
	}
	// A success is kept: with the secret file gone, the exchange still works.
	if err := os.Remove(filepath.Join(profile.SecretsDir(path), profile.SecretKey("p"))); err != nil {
		t.Fatal(err)
	}
	if tok, err := x.TokenContext(context.Background()); err != nil || !srv.Valid(tok.AccessToken) {
		t.Fatalf("after a success, the secret file removed: %v, %v", tok, err)
	}
}

// TestWaitingToldOfRequestsOnly: Config.Waiting hears of each DT token
// request, with the endpoint and under the refresh's deadline, and its done
// is called once the answer is in; a cached token is served without a word
// to it. The emulator stands in for DT's identity service.
func TestWaitingToldOfRequestsOnly(t *testing.T) {
	acct := authtest.Account{KeyID: "k1", Email: "sa@example.com", Secret: "s3cret"}
	srv := authtest.NewServer(acct)
	defer srv.Close()
	home := t.TempDir()
	getenv := mapEnv(map[string]string{
		"HOME": home, "DT_CACHE_DIR": filepath.Join(home, "cache"), auth.EnvKeyID: acct.KeyID, auth.EnvEmail: acct.Email,
		auth.EnvSecret: acct.Secret, auth.EnvTokenEndpoint: srv.TokenURL(),
	})
	var told []string
	var deadlines, ended int
	cfg := Config{Cache: "file", Getenv: getenv, Timeout: 5 * time.Second,
		Waiting: func(ctx context.Context, what string) func() {
			told = append(told, what)
			if _, ok := ctx.Deadline(); ok {
				deadlines++
			}
			return func() { ended++ }
		}}
	sources := New(cfg, profile.NewRepository(getenv, 0, nil))
	for range 2 {
		if _, err := sources.Token(t.Context(), "", false); err != nil {
			t.Fatal(err)
		}
	}
	if srv.Requests() != 1 {
		t.Fatalf("%d token requests, want 1: the second call is not served from the cache, and the test proves nothing", srv.Requests())
	}
	if len(told) != 1 || told[0] != srv.TokenURL() || deadlines != 1 || ended != 1 {
		t.Errorf("Waiting told %q (%d under a deadline), done called %d times; want the endpoint once, under the deadline, ended once", told, deadlines, ended)
	}
}
