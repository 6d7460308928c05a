package profile

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/serviceaccount"
)

var rotateNow = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

var rotateWindow = serviceaccount.CreateWindowOf(rotateNow, time.Minute)

var rotateOwner = serviceaccount.ID{Project: "project", ServiceAccount: "sa"}

// keySecret reads key keyID's own entry of profile name in where.
func (f *txFixture) keySecret(t *testing.T, where, name, keyID string) (string, bool) {
	t.Helper()
	s, err := f.repo.Secrets(where)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Delete(KeySecretKey(name, keyID)) })
	b, err := s.Get(KeySecretKey(name, keyID))
	if errors.Is(err, keyring.ErrNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

// staged is profile name saved with "the-secret" for key-1 in where, a
// rotation begun and key-2 staged with "new-secret".
func (f *txFixture) staged(t *testing.T, name, where string) {
	t.Helper()
	f.saved(t, name, where)
	ctx := t.Context()
	if err := f.repo.BeginRotation(ctx, name, "key-1", rotateOwner, []string{"key-1"}, rotateWindow); err != nil {
		t.Fatal(err)
	}
	if err := f.repo.StageKey(ctx, name, "key-1", "key-2", rotateNow.Add(time.Second), "new-secret"); err != nil {
		t.Fatal(err)
	}
	f.keySecret(t, where, name, "key-2") // removed afterwards
}

// secretOf is what a refresh of profile name reads.
func (f *txFixture) secretOf(t *testing.T, name string) string {
	t.Helper()
	f.repo = NewRepository(f.getenv, 0, nil) // read the profiles file afresh
	s, err := f.repo.Secret(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRotationStages: at each stage of a rotation the profile names a
// secret that is there and works for its key: the old one until the
// switch, the new one from the switch on; the old secret goes at the end.
func TestRotationStages(t *testing.T) {
	eachStore(t, func(t *testing.T, f *txFixture, where, name string) {
		f.staged(t, name, where)
		ctx := t.Context()
		if got := f.secretOf(t, name); got != "the-secret" {
			t.Errorf("staged: the profile's secret is %q, want the old one", got)
		}
		if got, ok := f.keySecret(t, where, name, "key-2"); got != "new-secret" {
			t.Errorf("staged: the new key's entry holds %q (%v)", got, ok)
		}
		if err := f.repo.SwitchKey(ctx, name, "key-1"); err != nil {
			t.Fatal(err)
		}
		a, err := f.repo.Account(name)
		if err != nil {
			t.Fatal(err)
		}
		if a.Credentials.KeyID != "key-2" || !a.KeyCreated.Equal(rotateNow.Add(time.Second)) || a.Rotation.OldKeyID != "key-1" {
			t.Errorf("switched: account %+v, rotation %+v", a, a.Rotation)
		}
		if got := f.secretOf(t, name); got != "new-secret" {
			t.Errorf("switched: the profile's secret is %q, want the new one", got)
		}
		if err := f.repo.EndRotation(ctx, name, "key-2"); err != nil {
			t.Fatal(err)
		}
		if _, ok := f.secret(t, where, name); ok {
			t.Error("ended: the old key's secret is still there")
		}
		p, _ := f.stored(t, name)
		if p.Rotation != nil || p.KeyID != "key-2" || p.SecretEntry != KeySecretKey(name, "key-2") {
			t.Errorf("ended: the profile is %+v", p)
		}
		if got := f.secretOf(t, name); got != "new-secret" {
			t.Errorf("ended: the profile's secret is %q", got)
		}
	})
}

// TestRotationAbandoned: a rotation ended before its switch gives up the
// staged key's secret and leaves the profile as it was.
func TestRotationAbandoned(t *testing.T) {
	eachStore(t, func(t *testing.T, f *txFixture, where, name string) {
		before := f.saved(t, name, where)
		f.staged(t, name, where)
		if err := f.repo.EndRotation(t.Context(), name, "key-1"); err != nil {
			t.Fatal(err)
		}
		if _, ok := f.keySecret(t, where, name, "key-2"); ok {
			t.Error("the staged secret is still there")
		}
		if p, _ := f.stored(t, name); p.Rotation != nil || p.KeyID != before.KeyID || p.SecretEntry != "" {
			t.Errorf("the profile is %+v, want it as it was", p)
		}
		if got := f.secretOf(t, name); got != "the-secret" {
			t.Errorf("the profile's secret is %q", got)
		}
	})
}

// TestRotationChanged: a step for a profile that is no longer the one the
// rotation began with (a login meanwhile) fails, and a new key's secret
// that could not be recorded is taken back.
func TestRotationChanged(t *testing.T) {
	eachStore(t, func(t *testing.T, f *txFixture, where, name string) {
		f.saved(t, name, where)
		ctx := t.Context()
		if err := f.repo.BeginRotation(ctx, name, "key-0", rotateOwner, nil, rotateWindow); !errors.Is(err, ErrChanged) {
			t.Errorf("begin for another key: %v, want ErrChanged", err)
		}
		if err := f.repo.BeginRotation(ctx, name, "key-1", rotateOwner, nil, rotateWindow); err != nil {
			t.Fatal(err)
		}
		if err := f.repo.BeginRotation(ctx, name, "key-1", rotateOwner, nil, rotateWindow); err == nil {
			t.Error("a second rotation was begun over the first")
		}
		p := dtProfile(where)
		p.KeyID = "key-9"
		if _, err := f.repo.Save(ctx, name, p, "relogged", f.forget); err != nil {
			t.Fatal(err)
		}
		if err := f.repo.StageKey(ctx, name, "key-1", "key-2", rotateNow, "new-secret"); !errors.Is(err, ErrChanged) {
			t.Errorf("stage after a login: %v, want ErrChanged", err)
		}
		if _, ok := f.keySecret(t, where, name, "key-2"); ok {
			t.Error("the secret of a key that could not be recorded stays")
		}
	})
}

// TestAdoptKey: a key whose secret a rotation stored without recording it
// (a crash between the two) is found and recorded by the rerun.
func TestAdoptKey(t *testing.T) {
	eachStore(t, func(t *testing.T, f *txFixture, where, name string) {
		f.saved(t, name, where)
		ctx := t.Context()
		if err := f.repo.BeginRotation(ctx, name, "key-1", rotateOwner, []string{"key-1"}, rotateWindow); err != nil {
			t.Fatal(err)
		}
		if found, err := f.repo.AdoptKey(ctx, name, "key-1", "key-2", rotateNow); found || err != nil {
			t.Fatalf("adopting a key with no secret here: %v, %v", found, err)
		}
		s, _ := f.repo.Secrets(where)
		if err := s.Set(KeySecretKey(name, "key-2"), []byte("new-secret")); err != nil {
			t.Fatal(err)
		}
		f.keySecret(t, where, name, "key-2")
		if found, err := f.repo.AdoptKey(ctx, name, "key-1", "key-2", rotateNow); !found || err != nil {
			t.Fatalf("adopting a stored key: %v, %v", found, err)
		}
		if p, _ := f.stored(t, name); !p.Rotation.Staged() || p.Rotation.NewKeyID != "key-2" {
			t.Errorf("rotation %+v, want key-2 staged", p.Rotation)
		}
	})
}

// TestLoginAndLogoutOverRotation: a login or logout in the middle of a
// rotation leaves none of its secrets behind, and a login says what the
// rotation left at DT.
func TestLoginAndLogoutOverRotation(t *testing.T) {
	eachStore(t, func(t *testing.T, f *txFixture, where, name string) {
		f.staged(t, name, where)
		warnings, err := f.repo.Save(t.Context(), name, dtProfile(where), "relogged", f.forget)
		if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0].Error(), "key-2") {
			t.Fatalf("login over a staged key: %v, warnings %v", err, warnings)
		}
		if _, ok := f.keySecret(t, where, name, "key-2"); ok {
			t.Error("login left the staged key's secret")
		}

		f.staged(t, name, where)
		if err := f.repo.SwitchKey(t.Context(), name, "key-1"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.repo.Remove(t.Context(), name, auth.Credentials{}, f.forget); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"key-1", "key-2"} {
			if _, ok := f.keySecret(t, where, name, key); ok {
				t.Errorf("logout left key %s's secret", key)
			}
		}
		if _, ok := f.secret(t, where, name); ok {
			t.Error("logout left the old key's secret")
		}
	})
}

// TestSaveKeepsKeyAge: logging in again with the same key keeps its
// creation time; another key's is not known.
func TestSaveKeepsKeyAge(t *testing.T) {
	needStore(t, SecretInFile)
	f := newTxFixture(t)
	name := uniqueProfile(t, f)
	f.staged(t, name, SecretInFile)
	if err := f.repo.SwitchKey(t.Context(), name, "key-1"); err != nil {
		t.Fatal(err)
	}
	p := dtProfile(SecretInFile)
	p.KeyID = "key-2"
	if _, err := f.repo.Save(t.Context(), name, p, "new-secret", f.forget); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.stored(t, name); !got.KeyCreated.Equal(rotateNow.Add(time.Second)) {
		t.Errorf("the same key logged in again: created %v", got.KeyCreated)
	}
	p.KeyID = "key-3"
	if _, err := f.repo.Save(t.Context(), name, p, "other", f.forget); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.stored(t, name); !got.KeyCreated.IsZero() {
		t.Errorf("another key logged in: created %v, want unknown", got.KeyCreated)
	}
}

func TestParseRefusesForeignEntries(t *testing.T) {
	for _, body := range []string{
		`{"version":1,"profiles":{"a":{"key_id":"k","email":"e","secret_entry":"secret-b"}}}`,
		`{"version":1,"profiles":{"a":{"key_id":"k","email":"e","secret_entry":"keysecret-j.a"}}}`,
		`{"version":1,"profiles":{"a":{"key_id":"k","email":"e","rotation":{"old_key_id":"j","old_entry":"secret-b"}}}}`,
		`{"version":1,"profiles":{"a":{"key_id":"k","email":"e","rotation":{"new_key_id":"../x"}}}}`,
	} {
		if _, err := Parse([]byte(body), "test"); err == nil {
			t.Errorf("Parse accepted %s", body)
		}
	}
	ok := `{"version":1,"profiles":{"a":{"key_id":"k","email":"e","secret_entry":"keysecret-k.a","rotation":{"started":"2026-01-01T00:00:00Z","keys_before":["j"],"old_key_id":"j","old_entry":"secret-a"}}}}`
	if _, err := Parse([]byte(ok), "test"); err != nil {
		t.Errorf("Parse refused what rotate writes: %v", err)
	}
}

func TestLockRotation(t *testing.T) {
	f := newTxFixture(t)
	if err := os.MkdirAll(f.env["XDG_CONFIG_HOME"]+"/dt-credential-helper", 0o700); err != nil {
		t.Fatal(err)
	}
	unlock, err := f.repo.LockRotation(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.repo.LockRotation(t.Context(), "a"); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("a second rotation of one profile: %v", err)
	}
	other, err := f.repo.LockRotation(t.Context(), "b")
	if err != nil {
		t.Errorf("another profile's rotation: %v", err)
	} else {
		other()
	}
	unlock()
	if again, err := f.repo.LockRotation(t.Context(), "a"); err != nil {
		t.Errorf("after unlock: %v", err)
	} else {
		again()
	}
}
