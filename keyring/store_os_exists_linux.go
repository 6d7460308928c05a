//go:build linux

package keyring

import "fmt"

// exists searches the Secret Service for key's entry, over a checked
// connection of its own, as get does, and stops there: no session is opened
// and no secret is asked for.
func (s *OSStore) exists(k osKeyring, key string) (bool, error) {
	ctx, conn, done, err := s.dial(k)
	if err != nil {
		return false, err
	}
	defer done()
	unlocked, locked, err := searchItems(ctx, conn, key)
	switch {
	case err != nil:
		return false, unavailable("searching the Secret Service", err)
	case len(unlocked) > 0:
		return true, nil
	case len(locked) > 0:
		return false, fmt.Errorf("%w: the entry is in a locked keyring collection", ErrUnreachable)
	}
	return false, nil
}
