package profile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// A rotation (rotate) reads a profile, acts at DT, and writes the profile
// back, step by step, holding the profile's rotation lock throughout. A
// login or logout of the profile meanwhile would change what those steps
// act on: the key the rotation deletes at DT, the entry whose secret it
// removes. So [Repository.Save] and [Repository.Remove] take the same lock
// and refuse while a rotation holds it, and each rotation step that cannot
// be taken back reads the profile afresh, under the profiles file's lock,
// and goes ahead only while it is still the one the rotation acts on.

// ErrRotating is wrapped by the error of a login, logout or rotate of a
// profile that another process is rotating.
var ErrRotating = errors.New("being rotated by another process")

// lockOut checks name, takes profile name's rotation lock for command
// (login or logout), refusing at once while a rotation holds it, and
// returns the profiles file read afresh (LockRotation forgets what File
// read before, which may be older than the lock), as it stands while no rotation can change it,
// with the unlock to call when done. A missing profiles directory holds
// no profile to rotate: create makes it (Save writes there next), else
// nothing is locked.
func (r *Repository) lockOut(ctx context.Context, name, command string, create bool) (f *File, unlock func(), err error) {
	if err := ValidateName(name); err != nil {
		return nil, nil, misconfig.Wrap(err)
	}
	path, err := r.Path()
	if err != nil {
		return nil, nil, err
	}
	if create {
		if err := privatefile.EnsureDir(filepath.Dir(path), true); err != nil {
			return nil, nil, fmt.Errorf("profiles directory: %w", err)
		}
	}
	unlock, err = r.LockRotation(ctx, name)
	switch {
	case errors.Is(err, ErrRotating):
		return nil, nil, fmt.Errorf("%w: run %s again when it has finished", err, command)
	case !create && errors.Is(err, fs.ErrNotExist):
		unlock = func() {}
	case err != nil:
		return nil, nil, fmt.Errorf("profile %q: taking its rotation lock: %w", name, err)
	}
	if f, err = r.File(); err != nil {
		unlock()
		return nil, nil, err
	}
	return f, unlock, nil
}

// Current reads profile name afresh, under the profiles file's lock, for
// a rotation step that cannot be taken back: the step goes ahead only
// while the profile is still the one it acts on. A profile no longer
// there, or no longer a DT profile, is an error wrapping [ErrChanged].
func (r *Repository) Current(ctx context.Context, name string) (Account, error) {
	var a Account
	err := r.Update(ctx, func(f *File) (bool, error) {
		p, ok := f.Profiles[name]
		if !ok || p.Vault != nil {
			return false, fmt.Errorf("profile %q %w: it was removed or replaced", name, ErrChanged)
		}
		a = p.account(name)
		return false, nil
	})
	return a, err
}

// rotationLeft says what the unfinished rotation of old, profile name,
// leaves at DT once a login (with key keyID) or a logout (keyID "")
// replaces it: a key it created or switched to that no profile uses now,
// the old key it had still to delete, or a key its create may have made,
// which nobody holds.
func rotationLeft(name string, old Profile, keyID string) []error {
	rot := old.Rotation
	var warnings []error
	switch {
	case rot.Staged() && rot.NewKeyID != keyID:
		warnings = append(warnings, fmt.Errorf("an unfinished rotation of profile %q had created key %s, which no profile uses now: delete it in DT Studio", name, rot.NewKeyID))
	case rot.Switched():
		// A logout leaves the profile's key at DT, as any logout does; a
		// login with the old key leaves the one rotate made, which the user
		// may never have seen.
		if keyID != "" && old.KeyID != keyID {
			warnings = append(warnings, fmt.Errorf("an unfinished rotation of profile %q had switched it to key %s, whose secret is removed now: "+
				"delete that key in DT Studio unless a machine of yours uses it", name, old.KeyID))
		}
		if rot.OldKeyID != keyID {
			warnings = append(warnings, fmt.Errorf("an unfinished rotation of profile %q left its old key %s at DT: delete it in DT Studio once no machine uses it", name, rot.OldKeyID))
		}
	case rot.Begun():
		w := rot.CreateWindow // when BeginRotation began, and the create could have ended
		when := "between " + w.From.Format(time.RFC3339) + " and " + w.Until.Format(time.RFC3339)
		warnings = append(warnings, fmt.Errorf("an unfinished rotation of profile %q may have created a key of its service account at DT %s, "+
			"whose secret was never stored: if DT Studio (API Integrations, Service Accounts) lists a key created then that no machine of yours uses, delete it",
			name, when))
	}
	return warnings
}

// keptRotation is the record of old's unfinished rotation that p, saved
// over it, keeps: a begun one, when p is the same key of the same account,
// so that the next rotate still finds and reports a key its create may
// have made; nil otherwise.
func keptRotation(old, p Profile) *Rotation {
	if old.Vault == nil && p.Vault == nil && old.Rotation.Begun() && old.KeyID == p.KeyID && old.Email == p.Email {
		return old.Rotation
	}
	return nil
}
