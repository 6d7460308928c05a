//go:build !linux

package keyring

import (
	"errors"
	"fmt"

	gokeyring "github.com/zalando/go-keyring"
)

// osKeyring is where the OS keyring is reached: nothing to find or check
// outside Linux, where it is a local call of the system's.
type osKeyring struct{}

// locateKeyring has nothing cheap to check here; the time bound covers it.
func locateKeyring() (osKeyring, error) { return osKeyring{}, nil }

// get reads through go-keyring: the lean Secret Service read is Linux-only,
// and macOS and Windows keyrings are local calls anyway.
func (s *OSStore) get(_ osKeyring, key string) ([]byte, error) {
	v, err := gokeyring.Get(Service, key)
	if err != nil {
		return nil, mapError("read", err)
	}
	return []byte(v), nil
}

// set writes through go-keyring.
func (s *OSStore) set(_ osKeyring, key string, data []byte) error {
	return mapError("write", gokeyring.Set(Service, key, string(data)))
}

// del deletes through go-keyring, as get reads through it.
func (s *OSStore) del(_ osKeyring, key string) error {
	err := mapError("delete", gokeyring.Delete(Service, key))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// mapError translates go-keyring's errors. Anything but "not found" and "too
// big" means the keyring could not do the job (no bus, no Secret Service, a
// locked or missing collection, a D-Bus error), which is what ErrUnreachable
// stands for. The messages come from the keyring service and never contain
// the secret.
func mapError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gokeyring.ErrNotFound):
		return fmt.Errorf("keyring %s: %w", op, ErrNotFound)
	case errors.Is(err, gokeyring.ErrSetDataTooBig):
		return fmt.Errorf("keyring %s: %w", op, ErrTooBig)
	default:
		return fmt.Errorf("%w: %s failed: %w", ErrUnreachable, op, err)
	}
}
