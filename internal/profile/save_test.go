package profile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// TestSave: a DT profile's secret goes to the store it names, the profile
// to the profiles file, and the tokens cached for its account go: a
// profile's cached token is served without reading its secret, so one its
// earlier secret obtained must not outlive a new secret.
func TestSave(t *testing.T) {
	eachStore(t, func(t *testing.T, f *txFixture, where, name string) {
		p := dtProfile(where)
		p.Hosts = []string{"registry.example"}
		key := f.plantToken(t, p.account(name))

		warnings, err := f.repo.Save(t.Context(), name, p, "the-secret", f.forget)
		if err != nil || len(warnings) > 0 {
			t.Fatalf("Save: %v, warnings %v", err, warnings)
		}
		if got, ok := f.secret(t, where, name); got != "the-secret" {
			t.Errorf("the %s holds %q (%v), want the secret", where, got, ok)
		}
		got, ok := f.stored(t, name)
		p.CacheNonce = got.CacheNonce // a new one at every save: TestCacheNonce
		if !ok || !cmp.Equal(got, p) {
			t.Errorf("profiles file holds %+v (%v), want %+v", got, ok, p)
		}
		if f.cached(t, key) {
			t.Error("the token cached for the account is still there")
		}
		if diff := cmp.Diff([]Account{p.account(name)}, f.forgot); diff != "" {
			t.Errorf("forget's accounts (-want +got):\n%s", diff)
		}
	})
}

// TestSaveRemovesStrayCopy: a secret left in the other store by an earlier
// login (a move whose old copy could not be removed) goes with the next
// save.
func TestSaveRemovesStrayCopy(t *testing.T) {
	needSecretService(t)
	f := newTxFixture(t)
	name := uniqueProfile(t, f)
	f.plantSecret(t, SecretInKeyring, name, "stray-secret")
	if _, err := f.repo.Save(t.Context(), name, dtProfile(SecretInFile), "the-secret", f.forget); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.secret(t, SecretInKeyring, name); ok {
		t.Error("the stray copy is still in the keyring")
	}
}

// TestSaveForgetFailures: cached tokens that cannot be removed do not undo
// the save. In a store this process cannot reach (no keyring here) they
// are a warning: it serves this process no token either. Anything else is
// an error saying the profile is stored and why that matters.
func TestSaveForgetFailures(t *testing.T) {
	noKeyring(t)
	unreachable := func(context.Context, Account) error {
		return errors.Join(keyring.NewOSStore(0).Delete("token-x"), nil)
	}
	f := newTxFixture(t)
	warnings, err := f.repo.Save(t.Context(), "prod", dtProfile(SecretInFile), "the-secret", unreachable)
	if err != nil || len(warnings) != 1 || !errors.Is(warnings[0], keyring.ErrUnreachable) {
		t.Errorf("Save with the keyring unreachable: %v, warnings %v; want one warning", err, warnings)
	}

	// A token cache directory that is a file cannot be cleared.
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	broken := func(context.Context, Account) error {
		return errors.Join(keyring.NewOSStore(0).Delete("token-x"), keyring.NewFileStore(notDir).Delete("token-x"))
	}
	_, err = f.repo.Save(t.Context(), "prod", dtProfile(SecretInFile), "other-secret", broken)
	if err == nil || !strings.Contains(err.Error(), `profile "prod" stored, but a token its earlier secret obtained may still be served`) {
		t.Errorf("Save with the token cache broken = %v; want an error saying the profile is stored", err)
	}
	// The same, one account's stores joined inside the accounts' join, as
	// the command's forget gives them: a store that failed is found
	// however deep.
	nested := func(ctx context.Context, a Account) error { return errors.Join(broken(ctx, a), unreachable(ctx, a)) }
	if _, err := f.repo.Save(t.Context(), "prod", dtProfile(SecretInFile), "other-secret", nested); err == nil {
		t.Error("Save with the token cache broken, its errors nested: no error")
	}
	if got, _ := f.secret(t, SecretInFile, "prod"); got != "other-secret" {
		t.Errorf("the secret file holds %q, want the new secret", got)
	}
}

// TestSaveVault: a Vault profile holds no secret: saving one over a DT
// profile removes the DT secret (a fleet machine should hold none), and
// asks for no cached token to be removed. Moved down from the command's
// TestVaultLoginReplacesDTProfile.
func TestSaveVault(t *testing.T) {
	eachStore(t, func(t *testing.T, f *txFixture, where, name string) {
		f.saved(t, name, where)
		v := Profile{Vault: &vaultenv.Reference{Path: "dt/token/prod"}, Hosts: []string{"registry.example"}}
		warnings, err := f.repo.Save(t.Context(), name, v, "", f.forget)
		if err != nil || len(warnings) > 0 {
			t.Fatalf("Save: %v, warnings %v", err, warnings)
		}
		if _, ok := f.secret(t, where, name); ok {
			t.Errorf("the DT secret of the replaced profile is still in the %s", where)
		}
		if got, _ := f.stored(t, name); !cmp.Equal(got, v) {
			t.Errorf("profiles file holds %+v, want %+v", got, v)
		}
		if len(f.forgot) > 0 {
			t.Errorf("forget was called for %v", f.forgot)
		}
	})
}

// TestSaveRefuses: a name that cannot be a profile is the caller's
// configuration; a DT profile needs its secret and a Vault profile takes
// none. Nothing is written.
func TestSaveRefuses(t *testing.T) {
	noKeyring(t)
	f := newTxFixture(t)
	for _, tc := range []struct {
		name, profile, secret string
		p                     Profile
		misconfigured         bool
	}{
		{"bad name", "../x", "s", dtProfile(SecretInFile), true},
		{"DT without a secret", "prod", "", dtProfile(SecretInFile), false},
		{"Vault with a secret", "prod", "s", Profile{Vault: &vaultenv.Reference{Path: "dt/token/prod"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.repo.Save(t.Context(), tc.profile, tc.p, tc.secret, f.forget)
			if err == nil || misconfig.Is(err) != tc.misconfigured {
				t.Errorf("Save = %v; want an error, misconfigured %v", err, tc.misconfigured)
			}
		})
	}
	if _, err := os.Lstat(filepath.Dir(f.profilesPath(t))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused save wrote the config directory (%v)", err)
	}
}

// TestSaveConcurrent: concurrent saves, each its own repository as each
// login is its own process, each add their profile: the profiles file is
// read, changed and written under its lock. Moved down from the command's
// TestLoginConcurrent (before the lock, 6 parallel logins kept 1 or 2).
func TestSaveConcurrent(t *testing.T) {
	noKeyring(t)
	f := newTxFixture(t)
	const n = 8
	names := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range names {
		names[i] = fmt.Sprintf("p-%d", i)
		wg.Go(func() {
			repo := NewRepository(f.getenv, 0, nil)
			_, errs[i] = repo.Save(t.Context(), names[i], dtProfile(SecretInFile), "the-secret", func(context.Context, Account) error { return nil })
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	pf, err := Load(f.profilesPath(t))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(names, pf.Names()); diff != "" {
		t.Errorf("profiles after %d concurrent saves (-want +got):\n%s", n, diff)
	}
}
