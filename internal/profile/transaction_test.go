package profile

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// The transactions' tests use the real stores: secret files in a private
// config directory, the real Secret Service under
// scripts/keyring-session.sh (DT_TEST_SECRET_SERVICE=1) or no keyring at
// all (a session bus address that leads nowhere), and, for the token cache,
// a directory of cache files that forget removes a profile's entry from, as
// tokens.Forget does from every store it knows.

// txFixture is a repository in a private config directory, with a token
// cache of files.
type txFixture struct {
	repo   *Repository
	env    map[string]string
	cache  *keyring.FileStore
	forgot []Account // the accounts forget was called for
}

func newTxFixture(t *testing.T) *txFixture {
	t.Helper()
	home := t.TempDir()
	cache := filepath.Join(home, "cache")
	if err := os.Mkdir(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	f := &txFixture{
		env:   map[string]string{"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, "config")},
		cache: keyring.NewFileStore(cache),
	}
	f.repo = NewRepository(f.getenv, 0, nil)
	return f
}

func (f *txFixture) getenv(k string) string { return f.env[k] }

// forget removes a's entry from the fixture's token cache.
func (f *txFixture) forget(_ context.Context, a Account) error {
	f.forgot = append(f.forgot, a)
	return f.cache.Delete(cacheKey(a))
}

// cacheKey is a's key in the token cache, as the token command makes it.
func cacheKey(a Account) string {
	c := a.Credentials
	return keyring.Key(cmp.Or(c.TokenEndpoint, auth.DefaultTokenEndpoint), c.KeyID, c.Email)
}

// plantToken puts an entry for a in the token cache and returns its key.
func (f *txFixture) plantToken(t *testing.T, a Account) string {
	t.Helper()
	key := cacheKey(a)
	if err := f.cache.Set(key, []byte("an entry")); err != nil {
		t.Fatal(err)
	}
	return key
}

// cached reports whether the token cache holds key.
func (f *txFixture) cached(t *testing.T, key string) bool {
	t.Helper()
	_, err := f.cache.Get(key)
	if err != nil && !errors.Is(err, keyring.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// secret returns profile name's secret as store where holds it.
func (f *txFixture) secret(t *testing.T, where, name string) (string, bool) {
	t.Helper()
	s, err := f.repo.Secrets(where)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Get(SecretKey(name))
	if errors.Is(err, keyring.ErrNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatalf("reading the secret of %s from the %s: %v", name, where, err)
	}
	return string(b), true
}

// plantSecret puts a secret for profile name in store where, as a login
// that a profile no longer names (or a hand) left it.
func (f *txFixture) plantSecret(t *testing.T, where, name, secret string) {
	t.Helper()
	s, err := f.repo.Secrets(where)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(SecretKey(name), []byte(secret)); err != nil {
		t.Fatal(err)
	}
}

// stored returns profile name as the profiles file holds it now.
func (f *txFixture) stored(t *testing.T, name string) (Profile, bool) {
	t.Helper()
	path, err := f.repo.Path()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := pf.Profiles[name]
	return p, ok
}

// dropFromFile removes profile name from the profiles file by hand.
func (f *txFixture) dropFromFile(t *testing.T, name string) {
	t.Helper()
	err := f.repo.Update(t.Context(), func(pf *File) (bool, error) {
		delete(pf.Profiles, name)
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// profilesPath is the fixture's profiles file.
func (f *txFixture) profilesPath(t *testing.T) string {
	t.Helper()
	path, err := f.repo.Path()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// stores are the secret stores a test runs in: the file store always, the
// OS keyring when scripts/keyring-session.sh provides a real one.
func stores() []string { return []string{SecretInFile, SecretInKeyring} }

// needStore skips a case in the OS keyring unless a real Secret Service is
// here (scripts/keyring-session.sh), and otherwise takes every keyring away
// from the test: a session bus address that leads nowhere.
func needStore(t *testing.T, where string) {
	t.Helper()
	if where == SecretInKeyring {
		needSecretService(t)
		return
	}
	noKeyring(t)
}

// needSecretService skips unless scripts/keyring-session.sh runs the tests
// in a private session with an unlocked gnome-keyring.
func needSecretService(t *testing.T) {
	t.Helper()
	if os.Getenv("DT_TEST_SECRET_SERVICE") != "1" {
		t.Skip("no Secret Service session: run under scripts/keyring-session.sh")
	}
}

// noKeyring leaves the test no OS keyring to reach.
func noKeyring(t *testing.T) {
	t.Helper()
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
}

// uniqueProfile is a profile name no other test or run uses, whose secret
// is removed from the OS keyring afterwards.
func uniqueProfile(t *testing.T, f *txFixture) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "p-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		if os.Getenv("DT_TEST_SECRET_SERVICE") == "1" {
			keyring.NewOSStore(0).Delete(SecretKey(name))
		}
	})
	return name
}

// dtProfile is a DT service account profile whose secret is kept in where.
func dtProfile(where string) Profile {
	p := Profile{KeyID: "key-1", Email: "sa@project.serviceaccount.d21s.com", TokenEndpoint: "https://id.example/oauth2/token"}
	if where == SecretInFile {
		p.SecretStore = SecretInFile
	}
	return p
}

// eachStore runs test once for each secret store, with a fixture and a
// profile name of its own.
func eachStore(t *testing.T, test func(t *testing.T, f *txFixture, where, name string)) {
	for _, where := range stores() {
		t.Run(where, func(t *testing.T) {
			needStore(t, where)
			f := newTxFixture(t)
			test(t, f, where, uniqueProfile(t, f))
		})
	}
}

// saved saves profile name, a DT profile with its secret in where, and
// returns it as stored (with its cache nonce); forget's record starts
// afresh.
func (f *txFixture) saved(t *testing.T, name, where string) Profile {
	t.Helper()
	if _, err := f.repo.Save(t.Context(), name, dtProfile(where), "the-secret", f.forget); err != nil {
		t.Fatal(err)
	}
	f.forgot = nil
	p, _ := f.stored(t, name)
	return p
}
