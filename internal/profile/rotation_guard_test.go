package profile

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
)

// TestSaveAndRemoveRefuseWhileRotating: a login or logout of a profile
// whose rotation lock another process holds (a rotate under way) is
// refused at once, saying so, and changes nothing: rotate reads the
// profile, acts at DT, and writes it back, and must find it as it left it.
func TestSaveAndRemoveRefuseWhileRotating(t *testing.T) {
	eachStore(t, func(t *testing.T, f *txFixture, where, name string) {
		before := f.saved(t, name, where)
		unlock, err := f.repo.LockRotation(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		other := NewRepository(f.getenv, 0, nil) // another process
		p := dtProfile(where)
		p.KeyID = "key-9"
		_, err = other.Save(t.Context(), name, p, "relogged", f.forget)
		if err == nil || !strings.Contains(err.Error(), "being rotated by another process") || !strings.Contains(err.Error(), "run login again") {
			t.Errorf("login during a rotation: %v, want it refused", err)
		}
		_, err = other.Remove(t.Context(), name, auth.Credentials{}, f.forget)
		if err == nil || !strings.Contains(err.Error(), "being rotated by another process") || !strings.Contains(err.Error(), "run logout again") {
			t.Errorf("logout during a rotation: %v, want it refused", err)
		}
		if got, ok := f.stored(t, name); !ok || got.KeyID != before.KeyID {
			t.Errorf("the profile is %+v (%v), want it as it was", got, ok)
		}
		if got := f.secretOf(t, name); got != "the-secret" {
			t.Errorf("the profile's secret is %q", got)
		}
	})
}

// TestEndRotationReadsTheLiveRecord: EndRotation by a process whose read
// of the profiles file is stale (a login wrote it since, the old key's
// secret back in the entry the rotation had kept it in) removes nothing:
// the entry it would remove holds the secret the profile uses now.
func TestEndRotationReadsTheLiveRecord(t *testing.T) {
	eachStore(t, func(t *testing.T, f *txFixture, where, name string) {
		f.staged(t, name, where)
		if err := f.repo.SwitchKey(t.Context(), name, "key-1"); err != nil {
			t.Fatal(err)
		}
		stale := NewRepository(f.getenv, 0, nil)
		if a, err := stale.Account(name); err != nil || !a.Rotation.Switched() {
			t.Fatalf("switched: %+v, %v", a, err)
		}
		// A login with the old key, key-1, which DT still has.
		if _, err := NewRepository(f.getenv, 0, nil).Save(t.Context(), name, dtProfile(where), "relogged", f.forget); err != nil {
			t.Fatal(err)
		}
		if err := stale.EndRotation(t.Context(), name, "key-2"); !errors.Is(err, ErrChanged) {
			t.Errorf("ending a rotation the login dropped: %v, want ErrChanged", err)
		}
		if got := f.secretOf(t, name); got != "relogged" {
			t.Errorf("the profile's secret is %q, want the login's", got)
		}
	})
}

// TestRemoveSaysWhatTheRotationLeft: a logout over an unfinished rotation
// says what it leaves at DT: the old key still there, the new key no
// profile uses, or a key the create may have made, with when.
func TestRemoveSaysWhatTheRotationLeft(t *testing.T) {
	tests := []struct {
		stage string
		want  []string
	}{
		{"begun", []string{"may have created a key", "between 2026-05-01T10:00:00Z and 2026-05-01T10:02:00Z", "DT Studio"}},
		{"staged", []string{"key-2", "no profile uses", "DT Studio"}},
		{"switched", []string{"old key key-1", "DT Studio"}},
	}
	for _, tc := range tests {
		t.Run(tc.stage, func(t *testing.T) {
			needStore(t, SecretInFile)
			f := newTxFixture(t)
			name := uniqueProfile(t, f)
			f.saved(t, name, SecretInFile)
			ctx := t.Context()
			if tc.stage == "begun" {
				if err := f.repo.BeginRotation(ctx, name, "key-1", rotateOwner, []string{"key-1"}, rotateWindow); err != nil {
					t.Fatal(err)
				}
			} else {
				f.staged(t, name, SecretInFile)
			}
			if tc.stage == "switched" {
				if err := f.repo.SwitchKey(ctx, name, "key-1"); err != nil {
					t.Fatal(err)
				}
			}
			warnings, err := NewRepository(f.getenv, 0, nil).Remove(ctx, name, auth.Credentials{}, f.forget)
			if err != nil {
				t.Fatal(err)
			}
			if len(warnings) != 1 {
				t.Fatalf("logout over a %s rotation: warnings %v, want one", tc.stage, warnings)
			}
			for _, w := range tc.want {
				if !strings.Contains(warnings[0].Error(), w) {
					t.Errorf("warning %q does not say %q", warnings[0], w)
				}
			}
		})
	}
}

// TestLoginKeepsABegunRotation: a rotation whose create's answer was lost
// may have made a key at DT that nobody holds; a login with the same key
// keeps its record, so the next rotate still finds and reports that key,
// and says so; a login with another key drops it and says when to look.
func TestLoginKeepsABegunRotation(t *testing.T) {
	needStore(t, SecretInFile)
	f := newTxFixture(t)
	name := uniqueProfile(t, f)
	f.saved(t, name, SecretInFile)
	ctx := t.Context()
	if err := f.repo.BeginRotation(ctx, name, "key-1", rotateOwner, []string{"key-1"}, rotateWindow); err != nil {
		t.Fatal(err)
	}
	warnings, err := NewRepository(f.getenv, 0, nil).Save(ctx, name, dtProfile(SecretInFile), "relogged", f.forget)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := f.stored(t, name)
	if p.Rotation == nil || p.Rotation.Staged() || p.Rotation.Switched() || p.Rotation.CreateWindow != rotateWindow {
		t.Errorf("login with the same key: rotation %+v, want the begun record kept", p.Rotation)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0].Error(), "run rotate") {
		t.Errorf("login with the same key: warnings %v, want one saying to run rotate", warnings)
	}
	other := dtProfile(SecretInFile)
	other.KeyID = "key-5"
	warnings, err = NewRepository(f.getenv, 0, nil).Save(ctx, name, other, "other", f.forget)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := f.stored(t, name); p.Rotation != nil {
		t.Errorf("login with another key: rotation %+v, want none", p.Rotation)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0].Error(), "may have created a key") ||
		!strings.Contains(warnings[0].Error(), rotateWindow.From.Format(time.RFC3339)) {
		t.Errorf("login with another key: warnings %v, want the create's window", warnings)
	}
}
