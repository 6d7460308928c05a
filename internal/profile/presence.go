package profile

import (
	"errors"
	"fmt"

	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// HasSecret reports whether DT profile name's secret is where the profile
// keeps it, and never returns it: the doctor command's question. The OS
// keyring is asked without the secret being read where it can tell
// (keyring.OSStore.Exists: on Linux a search, so the secret never crosses
// the bus). A secret file is read, in this process only, under the checks
// every read of it gets, so that one the token command would refuse (a file
// others can read, a directory others can write) is an error here too. A
// Vault profile has no DT secret: asking is a configuration error.
func (r *Repository) HasSecret(name string) (bool, error) {
	a, err := r.Account(name)
	if err != nil {
		return false, err
	}
	if a.Vault != nil {
		return false, misconfig.Errorf("profile %q reads its tokens from Vault: it has no DT secret", name)
	}
	pl := a.place()
	store, err := r.Secrets(pl.store)
	if err != nil {
		return false, err
	}
	var found bool
	if ex, ok := store.(interface{ Exists(string) (bool, error) }); ok {
		found, err = ex.Exists(pl.key)
	} else {
		_, err = store.Get(pl.key)
		found = err == nil
	}
	if errors.Is(err, keyring.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("the secret of profile %q in the %s: %w", name, a.SecretIn, err)
	}
	return found, nil
}
