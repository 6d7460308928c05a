package profile

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// The repository's transactions, [Repository.Save] and [Repository.Remove],
// change three things that cannot change at once: a secret store, the
// profiles file and the token cache. Each orders its steps so that what a
// crash or a failure leaves behind still works, or can be run again, and
// says what it left.

// ForgetTokens removes the tokens cached for profile a from every token
// store they may be in, whatever the cache mode. The token cache sits above
// this package (it reads profiles to build its entries' accounts), so the
// caller hands the repository this function. Its error joins one error per
// store the tokens could not be removed from (errors.Join); one wrapping
// keyring.ErrUnreachable is a store this process cannot reach.
type ForgetTokens func(ctx context.Context, a Account) error

// forgetting runs forget for a and sorts what failed: a store this process
// cannot reach is a warning, since it serves this process no token either
// and a token there expires within the hour; any other failure makes the
// whole an error.
func forgetting(ctx context.Context, forget ForgetTokens, a Account) (warning, err error) {
	err = forget(ctx, a)
	if err == nil {
		return nil, nil
	}
	for _, e := range joined(err) {
		if !errors.Is(e, keyring.ErrUnreachable) {
			return nil, err
		}
	}
	return err, nil
}

// joined is what err joins (errors.Join), joins within it opened: one
// error per store.
func joined(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var errs []error
	for _, e := range j.Unwrap() {
		errs = append(errs, joined(e)...)
	}
	return errs
}

// place is where a DT profile's secret is kept: a store, and the entry's
// name in it. Save writes a secret to its new place before the profile
// names it, and removes the old place only after, so a secret that moves
// is crash-safe at every step: the profiles file always names a place that
// holds its secret. A key replaced within one store (rotate) is crash-safe
// the same way: its secret has an entry of its own ([KeySecretKey]).
type place struct{ store, key string }

// place is where a keeps its secret.
func (a Account) place() place { return place{a.SecretIn, cmp.Or(a.SecretEntry, SecretKey(a.Name))} }

// strayPlace is where a copy of profile name's secret may be left outside
// the place p it is kept in: the other store.
func strayPlace(name string, p place) place { return place{otherStore(p.store), SecretKey(name)} }

// otherStore is the secret store that is not where.
func otherStore(where string) string {
	if where == SecretInFile {
		return SecretInKeyring
	}
	return SecretInFile
}

// deleteSecret removes profile name's secret from pl. known says a
// profile named it there; otherwise a copy may have been left there (a
// login that moved the secret and could not remove it, a profile removed by
// hand), and a keyring this process cannot reach is skipped: it holds
// nothing this process could remove.
func (r *Repository) deleteSecret(name string, pl place, known bool) error {
	secrets, err := r.Secrets(pl.store)
	if err == nil {
		err = secrets.Delete(pl.key)
	}
	if err == nil || (!known && errors.Is(err, keyring.ErrUnreachable)) {
		return nil
	}
	return fmt.Errorf("the secret of profile %q was not removed from the %s: %w", name, pl.store, err)
}

// StoreError is a secret its store would not take: [Repository.Save]
// stored nothing. errors.Is finds the store's reason, such as
// keyring.ErrUnreachable for an OS keyring this process cannot reach.
type StoreError struct {
	Name  string // the profile
	Store string // where the secret was to go: SecretInKeyring or SecretInFile
	Err   error
}

func (e *StoreError) Error() string {
	return fmt.Sprintf("storing the secret of profile %q in the %s: %v", e.Name, e.Store, e.Err)
}

// Unwrap returns the store's error.
func (e *StoreError) Unwrap() error { return e.Err }
