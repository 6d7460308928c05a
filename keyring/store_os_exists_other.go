//go:build !linux

package keyring

import "errors"

// exists reads key's entry through go-keyring, which has no lookup that
// leaves the secret out, and drops it.
func (s *OSStore) exists(k osKeyring, key string) (bool, error) {
	_, err := s.get(k, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
