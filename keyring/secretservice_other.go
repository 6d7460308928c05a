//go:build !linux

package keyring

import gokeyring "github.com/zalando/go-keyring"

// get reads through go-keyring: the lean Secret Service read is Linux-only,
// and macOS and Windows keyrings are local calls anyway.
func (s *KeyringStore) get(key string) ([]byte, error) {
	v, err := gokeyring.Get(Service, key)
	if err != nil {
		return nil, mapError("read", err)
	}
	return []byte(v), nil
}

// canReachKeyring has nothing cheap to check here; the time bound covers it.
func canReachKeyring() error { return nil }
