//go:build unix

package profile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// The transactions' tests that plant a FIFO (the profiles file's lock)
// or read file modes.

// TestSaveTakesSecretBack: a profile that cannot be saved (a FIFO planted
// as the profiles file's lock) takes its new secret back wherever no
// profile needs it, so no secret is left that no profile names, and says
// nothing was stored; the error names the lock, and is not the caller's
// configuration (login exits 1). Moved down from the command's
// TestLoginLeavesNoStraySecret and TestLoginProfilesLockFIFO.
func TestSaveTakesSecretBack(t *testing.T) {
	eachStore(t, func(t *testing.T, f *txFixture, where, name string) {
		lock := f.profilesPath(t) + ".lock"
		if err := os.MkdirAll(filepath.Dir(lock), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(lock, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := f.repo.Save(t.Context(), name, dtProfile(where), "the-secret", f.forget)
		if err == nil || !strings.Contains(err.Error(), "nothing was stored") ||
			!strings.Contains(err.Error(), lock) || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("Save = %v; want an error saying nothing was stored, naming %s as not a regular file", err, lock)
		}
		if misconfig.Is(err) {
			t.Error("a lock that is a FIFO is taken for the caller's configuration")
		}
		if _, ok := f.secret(t, where, name); ok {
			t.Errorf("the secret is left in the %s", where)
		}
		if len(f.forgot) > 0 {
			t.Error("cached tokens were removed for a profile that was not saved")
		}
	})
}

// TestSaveFailsWithSecretInPlace: a profile whose new secret replaced the
// old one in the same place cannot take it back (both would be lost): the
// error says where the new secret is.
func TestSaveFailsWithSecretInPlace(t *testing.T) {
	noKeyring(t)
	f := newTxFixture(t)
	if _, err := f.repo.Save(t.Context(), "prod", dtProfile(SecretInFile), "old-secret", f.forget); err != nil {
		t.Fatal(err)
	}
	lock := f.profilesPath(t) + ".lock"
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(lock, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := f.repo.Save(t.Context(), "prod", dtProfile(SecretInFile), "new-secret", f.forget)
	if err == nil || !strings.Contains(err.Error(), `the secret of profile "prod" is in the file, but the profile could not be saved`) {
		t.Fatalf("Save = %v; want an error saying where the secret is", err)
	}
	if got, _ := f.secret(t, SecretInFile, "prod"); got != "new-secret" {
		t.Errorf("secret file holds %q, want the new secret", got)
	}
}

// TestSaveMovesSecret: a login that keeps the secret in the other store
// removes the old copy only once the profile names the new one; a profile
// that cannot be saved leaves the old profile with its old secret, and
// takes the new copy back.
func TestSaveMovesSecret(t *testing.T) {
	needSecretService(t)
	for _, move := range [][2]string{{SecretInKeyring, SecretInFile}, {SecretInFile, SecretInKeyring}} {
		from, to := move[0], move[1]
		t.Run(from+" to "+to, func(t *testing.T) {
			f := newTxFixture(t)
			name := uniqueProfile(t, f)
			if _, err := f.repo.Save(t.Context(), name, dtProfile(from), "old-secret", f.forget); err != nil {
				t.Fatal(err)
			}
			lock := f.profilesPath(t) + ".lock"
			if err := os.Rename(lock, lock+".aside"); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(lock, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := f.repo.Save(t.Context(), name, dtProfile(to), "new-secret", f.forget); err == nil || !strings.Contains(err.Error(), "nothing was stored") {
				t.Fatalf("Save with the lock a FIFO = %v; want nothing stored", err)
			}
			if got, _ := f.secret(t, from, name); got != "old-secret" {
				t.Errorf("after a failed move the %s holds %q, want the old secret", from, got)
			}
			if _, ok := f.secret(t, to, name); ok {
				t.Errorf("a failed move left the new secret in the %s", to)
			}
			if p, _ := f.stored(t, name); p.SecretIn() != from {
				t.Errorf("after a failed move the profile keeps its secret in the %s", p.SecretIn())
			}

			if err := os.Rename(lock+".aside", lock); err != nil {
				t.Fatal(err)
			}
			warnings, err := f.repo.Save(t.Context(), name, dtProfile(to), "new-secret", f.forget)
			if err != nil || len(warnings) > 0 {
				t.Fatalf("Save: %v, warnings %v", err, warnings)
			}
			if _, ok := f.secret(t, from, name); ok {
				t.Errorf("the old copy is left in the %s", from)
			}
			if got, _ := f.secret(t, to, name); got != "new-secret" {
				t.Errorf("the %s holds %q, want the new secret", to, got)
			}
		})
	}
}

// TestSaveWithoutKeyring: without an OS keyring a secret that goes there is
// refused with a *StoreError wrapping keyring.ErrUnreachable (login adds
// what to do), and nothing is stored; one kept in a file is stored, and the
// keyring nobody can reach is no warning.
func TestSaveWithoutKeyring(t *testing.T) {
	noKeyring(t)
	f := newTxFixture(t)
	_, err := f.repo.Save(t.Context(), "prod", dtProfile(SecretInKeyring), "the-secret", f.forget)
	var se *StoreError
	if !errors.As(err, &se) || se.Store != SecretInKeyring || !errors.Is(err, keyring.ErrUnreachable) {
		t.Fatalf("Save to the keyring without one = %v; want a *StoreError wrapping keyring.ErrUnreachable", err)
	}
	if _, ok := f.stored(t, "prod"); ok {
		t.Error("the profile was stored")
	}
	if _, err := os.Lstat(f.profilesPath(t)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a profiles file was written (%v)", err)
	}
	warnings, err := f.repo.Save(t.Context(), "prod", dtProfile(SecretInFile), "the-secret", f.forget)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("Save to a file: %v, warnings %v", err, warnings)
	}
	path := filepath.Join(SecretsDir(f.profilesPath(t)), SecretKey("prod"))
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700 | os.ModeDir} {
		if fi, err := os.Lstat(p); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v, mode %v; want mode %v", p, err, fi.Mode(), want)
		}
	}
}
