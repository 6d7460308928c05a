package profile

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// ErrNoAccount is wrapped by a [Repository.Remove] error when the tokens
// cached for a profile that is no longer in the profiles file could not be
// removed because its account was not given.
var ErrNoAccount = errors.New("its account is not known")

// Remove removes profile name: the tokens cached for its account (forget),
// its secret from every store that may hold it, and then the profile,
// which stays in the profiles file when anything before failed, so that
// Remove can be run again: the profile is what says whose cached tokens to
// remove. A secret store that does not answer stops it before anything is
// removed.
//
// A profile no longer in the profiles file (lost, or removed by hand) may
// still have a secret, in a secret file if there is one, else in the OS
// keyring: it is removed, and the tokens cached for account, which the
// caller gives when it knows it (zero: an error wrapping [ErrNoAccount]).
// Neither in the file nor with a secret, and no account given, is a
// configuration error wrapping [ErrUnknown].
//
// A profile a rotation (rotate) holds is not removed: the error wraps
// [ErrRotating].
//
// The warnings are cached tokens left in a store this process cannot
// reach, and what an unfinished rotation of the profile left at DT.
func (r *Repository) Remove(ctx context.Context, name string, account auth.Credentials, forget ForgetTokens) (warnings []error, err error) {
	f, unlock, err := r.lockOut(ctx, name, "logout", false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	p, inFile := f.Profiles[name]
	var warning error
	var errs []error
	if inFile && p.Vault != nil {
		// There is no secret to remove.
		warning, errs = forgotten(ctx, forget, p.account(name))
	} else {
		a := Account{Name: name, Credentials: account}
		if inFile {
			a = p.account(name)
		}
		where, found, err := r.findSecret(f, a, inFile)
		if err != nil {
			return nil, err
		}
		warning, errs = r.removeDT(ctx, a, where, found, forget)
	}
	if inFile {
		errs = r.dropProfile(ctx, name, errs)
	}
	if warning != nil {
		warnings = append(warnings, warning)
	}
	if len(errs) > 0 {
		return warnings, fmt.Errorf("profile %q not fully removed: %w", name, errors.Join(errs...))
	}
	if inFile && p.Vault == nil && p.Rotation != nil {
		warnings = append(warnings, rotationLeft(name, p, "")...)
	}
	return warnings, nil
}

// findSecret says where DT profile a keeps its secret, and whether it is
// there: where the profile says, or for a profile that is not in f (inFile
// false), in a secret file if there is one, else in the keyring. It reads
// the secret there once, bounded in time: a keyring that does not answer
// would fail every removal after it, each after its own timeout, so nothing
// is removed then. For a profile not in f the keyring is only a guess: one
// that cannot be reached (none here, or one that hangs) counts as holding
// nothing. No profile, no secret and no account is an unknown profile
// (noSuchProfile says where it was looked for).
func (r *Repository) findSecret(f *File, a Account, inFile bool) (where place, found bool, err error) {
	if !inFile {
		a.SecretIn = SecretInKeyring
		if files, err := r.Secrets(SecretInFile); err == nil {
			if _, err := files.Get(SecretKey(a.Name)); err == nil {
				a.SecretIn = SecretInFile
			}
		}
	}
	where = a.place()
	secrets, err := r.Secrets(where.store)
	if err == nil {
		_, err = secrets.Get(where.key)
	}
	var unchecked error // why the keyring could not be looked in
	if !inFile && errors.Is(err, keyring.ErrUnreachable) {
		unchecked, err = err, keyring.ErrNotFound
	}
	switch {
	case errors.Is(err, keyring.ErrNotFound):
		if !inFile && a.Credentials.KeyID == "" {
			return where, false, misconfig.Wrap(r.noSuchProfile(a.Name, unchecked))
		}
		return where, false, nil
	case err != nil:
		return where, false, fmt.Errorf("profile %q: nothing was removed: the %s could not be read: %w; try again when it answers", a.Name, where.store, err)
	}
	return where, true, nil
}

// noSuchProfile is the error for profile name, found nowhere: not in the
// profiles file, no secret file, and no keyring entry (or, when keyring is
// not nil, a keyring that could not be looked in, for that reason).
func (r *Repository) noSuchProfile(name string, keyring error) error {
	file, _ := r.Path() // it was read
	var b strings.Builder
	fmt.Fprintf(&b, "no profile %q: it is not in the profiles file %s, and ", name, file)
	if keyring == nil {
		fmt.Fprintf(&b, "neither the secret files in %s nor the keyring hold a secret under its name", SecretsDir(file))
	} else {
		fmt.Fprintf(&b, "the secret files in %s hold no secret under its name (the keyring could not be checked: %v)", SecretsDir(file), keyring)
	}
	b.WriteString("; nothing was changed")
	return notAProfile{errors.New(b.String())}
}

// forgotten removes the tokens cached for a (see forgetting), saying what
// it could not remove.
func forgotten(ctx context.Context, forget ForgetTokens, a Account) (warning error, errs []error) {
	var err error
	if a.Vault == nil && a.Credentials.KeyID == "" {
		err = fmt.Errorf("the profile is not in the profiles file, so %w", ErrNoAccount)
	} else {
		warning, err = forgetting(ctx, forget, a)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("its cached tokens were not removed: %w", err))
	}
	return warning, errs
}

// removeDT removes the tokens cached for DT account a, and its secret from
// where (where it was found, if found) and a copy that may be elsewhere.
func (r *Repository) removeDT(ctx context.Context, a Account, where place, found bool, forget ForgetTokens) (warning error, errs []error) {
	warning, errs = forgotten(ctx, forget, a)
	for _, pl := range append([]place{where, strayPlace(a.Name, where)}, a.rotationPlaces()...) {
		if err := r.deleteSecret(a.Name, pl, found && pl == where); err != nil {
			errs = append(errs, err)
		}
	}
	return warning, errs
}

// dropProfile removes profile name from the profiles file unless errs
// says something before failed, and returns errs with what went wrong.
func (r *Repository) dropProfile(ctx context.Context, name string, errs []error) []error {
	if len(errs) > 0 {
		return append(errs, errors.New("the profile stays in the profiles file so that it can be removed again"))
	}
	err := r.Update(ctx, func(f *File) (bool, error) {
		_, ok := f.Profiles[name]
		delete(f.Profiles, name)
		return ok, nil
	})
	if err != nil {
		return append(errs, fmt.Errorf("the profile was not removed from the profiles file: %w", err))
	}
	return errs
}
