package keyring

import "errors"

// Service is the keyring service name every entry is stored under.
const Service = "dt-credential-helper"

// ErrNotFound is returned by [Store.Get] when there is no entry for a key.
var ErrNotFound = errors.New("no cached entry")

// ErrUnreachable is wrapped by stores that cannot be reached at all (no
// D-Bus session, no Secret Service, a locked collection, a call that did not
// answer in time); under the auto mode it makes the cache fall back to files.
// Its text, which status shows in the fallback's reason, keeps the words
// "keyring unavailable" users already know.
var ErrUnreachable = errors.New("keyring unavailable")

// ErrTooBig is wrapped by a store's Set when it refuses an entry for its
// size (macOS and Windows limit keyring entries to a few KiB, the kernel
// keyring to 32 KiB) or for want of room (the kernel's per-user key quota);
// the auto store then keeps that entry in its next store instead.
var ErrTooBig = errors.New("entry too big for the keyring")

// Store holds opaque entries by key. Implementations are safe for concurrent
// use within a process; across processes, writers hold the key's [Lock].
type Store interface {
	// Get returns the entry stored under key, or an error wrapping ErrNotFound.
	Get(key string) ([]byte, error)
	// Set stores data under key, replacing any entry atomically.
	Set(key string, data []byte) error
	// Delete removes the entry; deleting a missing entry is not an error.
	Delete(key string) error
	// Name says which backend this is ("keyring", "file", "none"), for status
	// and logs.
	Name() string
}
