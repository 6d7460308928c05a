package profile

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// TestHasSecret: a saved profile's secret is there, in either store, and
// is not once it is gone; an unknown profile and a Vault profile are
// configuration errors.
func TestHasSecret(t *testing.T) {
	eachStore(t, func(t *testing.T, f *txFixture, where, name string) {
		f.saved(t, name, where)
		if ok, err := f.repo.HasSecret(name); !ok || err != nil {
			t.Fatalf("HasSecret after Save = %v, %v; want true", ok, err)
		}
		s, err := f.repo.Secrets(where)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(SecretKey(name)); err != nil {
			t.Fatal(err)
		}
		if ok, err := f.repo.HasSecret(name); ok || err != nil {
			t.Errorf("HasSecret with the secret gone = %v, %v; want false, nil", ok, err)
		}
	})
	t.Run("not a DT profile", func(t *testing.T) {
		noKeyring(t)
		f := newTxFixture(t)
		if _, err := f.repo.HasSecret("nobody"); !errors.Is(err, ErrUnknown) || !misconfig.Is(err) {
			t.Errorf("HasSecret of an unknown profile: %v; want ErrUnknown, a configuration error", err)
		}
		if _, err := f.repo.Save(t.Context(), "fleet", Profile{Vault: &vaultenv.Reference{Path: "dt/token/prod"}}, "", f.forget); err != nil {
			t.Fatal(err)
		}
		if _, err := f.repo.HasSecret("fleet"); !misconfig.Is(err) {
			t.Errorf("HasSecret of a Vault profile: %v; want a configuration error", err)
		}
	})
}

// TestHasSecretRefusesWhatTokenRefuses: a secret file others can read is
// refused by HasSecret as by the token command's read, with the file named.
func TestHasSecretRefusesWhatTokenRefuses(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("mode bits mean nothing on Windows")
	}
	noKeyring(t)
	f := newTxFixture(t)
	f.saved(t, "prod", SecretInFile)
	file := filepath.Join(SecretsDir(f.profilesPath(t)), SecretKey("prod"))
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	ok, err := f.repo.HasSecret("prod")
	var pe *keyring.PermissionError
	if ok || !errors.As(err, &pe) || pe.Path != file {
		t.Errorf("HasSecret of a secret file others can read = %v, %v; want a PermissionError naming it", ok, err)
	}
}
