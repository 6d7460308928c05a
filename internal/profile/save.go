package profile

import (
	"context"
	"errors"
	"fmt"

	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// Save stores p as profile name, replacing the profile of that name if
// there is one, and returns what went wrong without stopping it.
//
// A DT profile (p.Vault nil) keeps secret in the store p names
// (p.SecretIn()). The secret is written first and the profile then, under
// the profiles file's lock, so that the file never names a secret that is
// not there. A profile that cannot be saved takes its new secret back
// wherever no profile needs it (a new name, or a secret that was elsewhere
// before); a secret that moves between stores leaves its old copy until the
// profile is saved, and it is removed then. A change of where the secret is
// kept is thus crash-safe: at every step the profiles file names a secret
// that is there. The profile gets a new [Profile.CacheNonce], whatever p
// says: a profile's cached token is served without reading its secret, so
// the new secret, which may be wrong, must not be served a token an
// earlier one obtained. Last, the tokens cached for the profile's account
// are removed (forget) too, so that none outlives the secret that obtained
// it.
//
// A Vault profile holds no secret (secret must be empty): it is saved, and
// the DT secret an earlier profile of that name had is removed, since a
// fleet machine should hold none.
//
// A profile a rotation (rotate) holds is not saved: the error wraps
// [ErrRotating]. An unfinished rotation of the profile replaced is dropped
// (dropRotation), but for one interrupted before its new key was stored,
// which a login with the same key keeps (keptRotation).
//
// The warnings are what was left undone once the profile was saved: cached
// tokens in a store this process cannot reach, an old copy of a secret that
// could not be removed, what an unfinished rotation left at DT. A secret its store would not take is a
// [*StoreError], and nothing is stored.
func (r *Repository) Save(ctx context.Context, name string, p Profile, secret string, forget ForgetTokens) (warnings []error, err error) {
	if (p.Vault == nil) == (secret == "") {
		return nil, errors.New("a DT profile is saved with its secret, a Vault profile without one")
	}
	f, unlock, err := r.lockOut(ctx, name, "login", true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	old, existed := f.Profiles[name]
	if p.Vault != nil {
		p.CacheNonce = ""
		return r.saveVault(ctx, name, p, old, existed)
	}
	// A new secret, maybe wrong (login --no-verify): no token cached
	// before is served to it, even where forget below cannot remove it.
	p.CacheNonce = newCacheNonce()
	var from place // where the old profile kept its secret, if it had one
	p.Rotation = keptRotation(old, p)
	if existed && old.Vault == nil {
		from = old.account(name).place()
		if old.KeyID == p.KeyID && p.KeyCreated.IsZero() {
			p.KeyCreated = old.KeyCreated // the same key: its age is still known
		}
	}
	to := p.account(name).place()
	if err := r.storeWithSecret(ctx, name, p, secret, from == to); err != nil {
		return nil, err
	}
	// The old copy, when the secret moved; a copy left by an earlier move
	// or a profile removed by hand.
	if from != (place{}) && from != to {
		if err := r.deleteSecret(name, from, true); err != nil {
			warnings = append(warnings, err)
		}
	}
	if stray := strayPlace(name, to); stray != from {
		if err := r.deleteSecret(name, stray, false); err != nil {
			warnings = append(warnings, err)
		}
	}
	if existed && old.Vault == nil {
		warnings = append(warnings, r.dropRotation(name, old, p, to)...)
	}
	warning, err := forgetting(ctx, forget, p.account(name))
	if err != nil {
		return warnings, fmt.Errorf("profile %q stored, but a token its earlier secret obtained may still be served: "+
			"the tokens cached for its account could not be removed: %w; log in again", name, err)
	}
	if warning != nil {
		warnings = append(warnings, warning)
	}
	return warnings, nil
}

// storeWithSecret writes secret to p's place and then p as profile name.
// overwrote says the old profile's secret was in the same place, so that
// the new one cannot be taken back without losing both.
func (r *Repository) storeWithSecret(ctx context.Context, name string, p Profile, secret string, overwrote bool) error {
	pl := p.account(name).place()
	secrets, err := r.Secrets(pl.store)
	if err == nil {
		err = secrets.Set(pl.key, []byte(secret))
	}
	if err != nil {
		return &StoreError{Name: name, Store: pl.store, Err: err}
	}
	// Under the file's lock: concurrent saves each add their profile.
	err = r.Update(ctx, func(f *File) (bool, error) {
		f.Profiles[name] = p
		return true, nil
	})
	if err == nil {
		return nil
	}
	// A secret no profile names is a secret nobody will remove.
	if !overwrote && secrets.Delete(pl.key) == nil {
		return fmt.Errorf("the profile %q could not be saved, nothing was stored: %w", name, err)
	}
	return fmt.Errorf("the secret of profile %q is in the %s, but the profile could not be saved: %w", name, pl.store, err)
}

// saveVault saves Vault profile p as name and removes the DT secret of the
// profile old it replaces.
func (r *Repository) saveVault(ctx context.Context, name string, p Profile, old Profile, existed bool) ([]error, error) {
	err := r.Update(ctx, func(f *File) (bool, error) {
		f.Profiles[name] = p
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("the profile could not be saved: %w", err)
	}
	if !existed || old.Vault != nil {
		return nil, nil
	}
	warnings := r.dropRotation(name, old, p, place{})
	var errs []error
	was := old.account(name).place()
	for _, pl := range []place{was, strayPlace(name, was)} {
		if err := r.deleteSecret(name, pl, pl == was); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		warnings = append(warnings, fmt.Errorf("the DT secret profile %q had before is left behind: %w; "+
			"run `secret-tool clear service %s username %s` or the like", name, errors.Join(errs...), keyring.Service, was.key))
	}
	return warnings, nil
}

// dropRotation removes the secrets an unfinished rotation of old, the
// profile name that Save replaced with p, kept besides its own (but from
// the place to, which p uses), and says what the rotation left at DT
// (rotationLeft). A record p keeps (keptRotation) is not dropped: the
// warning says to finish it.
func (r *Repository) dropRotation(name string, old, p Profile, to place) []error {
	a := old.account(name)
	if a.Rotation == nil {
		return nil
	}
	if p.Rotation != nil {
		return []error{fmt.Errorf("profile %q keeps its unfinished rotation, whose create's answer was lost: "+
			"run rotate, which finishes it and reports a key that create may have made at DT", name)}
	}
	var warnings []error
	for _, pl := range a.rotationPlaces() {
		if pl == to {
			continue
		}
		if err := r.deleteSecret(name, pl, false); err != nil {
			warnings = append(warnings, err)
		}
	}
	return append(warnings, rotationLeft(name, old, p.KeyID)...)
}
