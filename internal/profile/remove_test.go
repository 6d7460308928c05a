package profile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/keyring/keyringtest"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// TestRemove: the tokens cached for the profile's account, its secret and
// the profile all go.
func TestRemove(t *testing.T) {
	eachStore(t, func(t *testing.T, f *txFixture, where, name string) {
		p := f.saved(t, name, where)
		key := f.plantToken(t, p.account(name))

		warnings, err := f.repo.Remove(t.Context(), name, auth.Credentials{}, f.forget)
		if err != nil || len(warnings) > 0 {
			t.Fatalf("Remove: %v, warnings %v", err, warnings)
		}
		if _, ok := f.secret(t, where, name); ok {
			t.Errorf("the secret is still in the %s", where)
		}
		if _, ok := f.stored(t, name); ok {
			t.Error("the profile is still in the profiles file")
		}
		if f.cached(t, key) {
			t.Error("the cached token is still there")
		}
		if diff := cmp.Diff([]Account{p.account(name)}, f.forgot); diff != "" {
			t.Errorf("forget's accounts (-want +got):\n%s", diff)
		}
	})
}

// TestRemoveNotInFile: a profile no longer in the profiles file (lost, or
// removed by hand) still has its secret removed, from a secret file if
// there is one, else from the keyring; its cached tokens cannot be found
// without its account, which the error says (ErrNoAccount; logout then
// asks for --key-id and --email) rather than claiming all was removed;
// given the account, they go. With nothing anywhere it is an unknown
// profile, the caller's configuration (a typo, most likely). Moved down
// from the command's TestLogoutProfileMissingFromFile.
func TestRemoveNotInFile(t *testing.T) {
	eachStore(t, func(t *testing.T, f *txFixture, where, name string) {
		p := f.saved(t, name, where)
		key := f.plantToken(t, p.account(name))
		f.dropFromFile(t, name)

		_, err := f.repo.Remove(t.Context(), name, auth.Credentials{}, f.forget)
		if !errors.Is(err, ErrNoAccount) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "cached tokens were not removed") || misconfig.Is(err) {
			t.Errorf("Remove without the account = %v; want an ErrNoAccount error naming the profile, not misconfigured", err)
		}
		if _, ok := f.secret(t, where, name); ok {
			t.Errorf("the secret is still in the %s", where)
		}
		if !f.cached(t, key) {
			t.Fatal("the cached token is gone though Remove could not know its account: the test checks nothing")
		}

		account := p.account(name).Credentials
		if warnings, err := f.repo.Remove(t.Context(), name, account, f.forget); err != nil || len(warnings) > 0 {
			t.Errorf("Remove with the account: %v, warnings %v", err, warnings)
		}
		if f.cached(t, key) {
			t.Error("the cached token is still there after Remove with its account")
		}

		_, err = f.repo.Remove(t.Context(), name, auth.Credentials{}, f.forget)
		if !errors.Is(err, ErrUnknown) || !misconfig.Is(err) || !strings.Contains(err.Error(), "no profile") {
			t.Errorf("Remove of a profile that is nowhere = %v; want a configuration error wrapping ErrUnknown", err)
		}
	})
}

// TestRemoveHungKeyring: with a keyring that does not answer, Remove gives
// up within the keyring's timeout and removes nothing, keeping the profile
// so that it can be run again; not the caller's configuration (logout
// exits 1). Moved down from the command's TestLogoutHungKeyring.
func TestRemoveHungKeyring(t *testing.T) {
	hung := keyringtest.StartHungService(t)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", hung.Addr)
	f := newTxFixture(t)
	f.repo = NewRepository(f.getenv, 200*time.Millisecond, nil)
	p := dtProfile(SecretInKeyring)
	err := f.repo.Update(t.Context(), func(pf *File) (bool, error) {
		pf.Profiles["p"] = p
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.repo.Remove(t.Context(), "p", auth.Credentials{}, f.forget)
	if err == nil || !strings.Contains(err.Error(), "nothing was removed") || !errors.Is(err, keyring.ErrUnreachable) || misconfig.Is(err) {
		t.Errorf("Remove = %v; want an error saying nothing was removed", err)
	}
	if hung.Calls() == 0 {
		t.Error("the hung keyring was never asked")
	}
	if got, ok := f.stored(t, "p"); !ok || !cmp.Equal(got, p) {
		t.Errorf("profile after a failed Remove: %+v, %v; want it kept", got, ok)
	}
	if len(f.forgot) > 0 {
		t.Error("cached tokens were removed though nothing was to be")
	}
}

// TestRemoveKeepsProfileOnFailure: when the cached tokens cannot be
// removed, the secret goes but the profile stays, so that Remove can be run
// again (the profile says whose tokens to remove), and then finishes.
// Cached tokens only in a store this process cannot reach are a warning.
func TestRemoveKeepsProfileOnFailure(t *testing.T) {
	noKeyring(t)
	f := newTxFixture(t)
	p := dtProfile(SecretInFile)
	if _, err := f.repo.Save(t.Context(), "prod", p, "the-secret", f.forget); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	broken := func(context.Context, Account) error { return keyring.NewFileStore(notDir).Delete("token-x") }
	_, err := f.repo.Remove(t.Context(), "prod", auth.Credentials{}, broken)
	if err == nil || !strings.Contains(err.Error(), "cached tokens were not removed") || !strings.Contains(err.Error(), "stays in the profiles file") {
		t.Errorf("Remove with the token cache broken = %v; want an error saying the profile stays", err)
	}
	if _, ok := f.stored(t, "prod"); !ok {
		t.Fatal("the profile was removed though its cached tokens were not")
	}
	if _, ok := f.secret(t, SecretInFile, "prod"); ok {
		t.Error("the secret was kept")
	}

	unreachable := func(context.Context, Account) error { return keyring.NewOSStore(0).Delete("token-x") }
	warnings, err := f.repo.Remove(t.Context(), "prod", auth.Credentials{}, unreachable)
	if err != nil || len(warnings) != 1 || !errors.Is(warnings[0], keyring.ErrUnreachable) {
		t.Errorf("Remove again: %v, warnings %v; want one warning, about the keyring", err, warnings)
	}
	if _, ok := f.stored(t, "prod"); ok {
		t.Error("the profile is still there")
	}
}

// TestRemoveStrayCopy: a copy of the secret in the store the profile does
// not name (a login that moved it and could not remove the old one) goes
// too.
func TestRemoveStrayCopy(t *testing.T) {
	needSecretService(t)
	for _, where := range stores() {
		t.Run("profile in the "+where, func(t *testing.T) {
			f := newTxFixture(t)
			name := uniqueProfile(t, f)
			if _, err := f.repo.Save(t.Context(), name, dtProfile(where), "the-secret", f.forget); err != nil {
				t.Fatal(err)
			}
			other := otherStore(where)
			f.plantSecret(t, other, name, "stray-secret")
			if _, err := f.repo.Remove(t.Context(), name, auth.Credentials{}, f.forget); err != nil {
				t.Fatal(err)
			}
			for _, w := range stores() {
				if _, ok := f.secret(t, w, name); ok {
					t.Errorf("a secret is left in the %s", w)
				}
			}
		})
	}
}

// TestRemoveVault: a Vault profile has no secret: its cached tokens and
// the profile go; when they cannot, the profile stays.
func TestRemoveVault(t *testing.T) {
	noKeyring(t)
	f := newTxFixture(t)
	v := Profile{Vault: &vaultenv.Reference{Path: "dt/token/prod"}}
	if _, err := f.repo.Save(t.Context(), "fleet", v, "", f.forget); err != nil {
		t.Fatal(err)
	}
	failing := func(context.Context, Account) error { return errors.New("VAULT_ADDR is not https") }
	_, err := f.repo.Remove(t.Context(), "fleet", auth.Credentials{}, failing)
	if err == nil || !strings.Contains(err.Error(), "VAULT_ADDR") || !strings.Contains(err.Error(), "stays in the profiles file") {
		t.Errorf("Remove = %v; want an error saying why and that the profile stays", err)
	}
	if _, ok := f.stored(t, "fleet"); !ok {
		t.Fatal("the profile was removed")
	}
	if warnings, err := f.repo.Remove(t.Context(), "fleet", auth.Credentials{}, f.forget); err != nil || len(warnings) > 0 {
		t.Fatalf("Remove: %v, warnings %v", err, warnings)
	}
	if diff := cmp.Diff([]Account{v.account("fleet")}, f.forgot); diff != "" {
		t.Errorf("forget's accounts (-want +got):\n%s", diff)
	}
	if _, ok := f.stored(t, "fleet"); ok {
		t.Error("the profile is still there")
	}
}

// TestList: every profile in name order, with where its secret is kept
// (never read: the secrets are not there).
func TestList(t *testing.T) {
	f := newTxFixture(t)
	err := f.repo.Update(t.Context(), func(pf *File) (bool, error) {
		pf.Profiles["b-file"] = dtProfile(SecretInFile)
		pf.Profiles["a-keyring"] = dtProfile(SecretInKeyring)
		pf.Profiles["c-vault"] = Profile{Vault: &vaultenv.Reference{Path: "dt/token/prod"}}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.repo.List()
	if err != nil {
		t.Fatal(err)
	}
	creds := auth.Credentials{KeyID: "key-1", Email: "sa@project.serviceaccount.d21s.com", TokenEndpoint: "https://id.example/oauth2/token"}
	want := []Account{
		{Name: "a-keyring", Credentials: creds, SecretIn: SecretInKeyring, SecretEntry: SecretKey("a-keyring")},
		{Name: "b-file", Credentials: creds, SecretIn: SecretInFile, SecretEntry: SecretKey("b-file")},
		{Name: "c-vault", Vault: &vaultenv.Reference{Path: "dt/token/prod"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
}

// TestRemoveUnknownSaysWhatWasChecked: removing a profile that is nowhere
// says plainly that there is no such profile and what was looked at (the
// profiles file, the secret files, the keyring), whether the keyring
// answered, is missing or hangs: not "create it with login" (logout is no
// place to create one), nor "try again when it answers" (a keyring that
// never will). Nothing is removed; it is the caller's configuration (a
// typo, most likely).
func TestRemoveUnknownSaysWhatWasChecked(t *testing.T) {
	cases := []struct {
		name    string
		keyring func(t *testing.T) // sets up the keyring, or its absence
		want    string             // what is said of the keyring
	}{
		{name: "no keyring", keyring: noKeyring, want: "the keyring could not be checked"},
		{name: "hung keyring", keyring: func(t *testing.T) {
			t.Setenv("DBUS_SESSION_BUS_ADDRESS", keyringtest.StartHungService(t).Addr)
		}, want: "the keyring could not be checked"},
		{name: "keyring", keyring: needSecretService, want: "nor the keyring"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.keyring(t)
			f := newTxFixture(t)
			f.repo = NewRepository(f.getenv, 200*time.Millisecond, nil)
			name := uniqueProfile(t, f)
			f.saved(t, "other", SecretInFile) // a profiles file and a secrets directory exist
			_, err := f.repo.Remove(t.Context(), name, auth.Credentials{}, f.forget)
			if !errors.Is(err, ErrUnknown) || !misconfig.Is(err) {
				t.Fatalf("Remove = %v; want a configuration error wrapping ErrUnknown", err)
			}
			msg := err.Error()
			for _, w := range []string{`no profile "` + name + `"`, f.profilesPath(t), "secret files", tc.want} {
				if !strings.Contains(msg, w) {
					t.Errorf("Remove = %q; does not say %q", msg, w)
				}
			}
			for _, w := range []string{"create it", "login", "again", "answers"} {
				if strings.Contains(msg, w) {
					t.Errorf("Remove = %q; says %q", msg, w)
				}
			}
			if len(f.forgot) > 0 {
				t.Error("cached tokens were looked for without an account")
			}
			if _, ok := f.stored(t, "other"); !ok {
				t.Error("another profile was removed")
			}
		})
	}
}
