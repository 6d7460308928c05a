package keyring

// NoneStore caches nothing: every Get misses, Set and Delete do nothing. It
// is what --cache none selects, so every call fetches a fresh token.
type NoneStore struct{}

var _ Store = NoneStore{}

// Get implements [Store]; it always returns [ErrNotFound].
func (NoneStore) Get(string) ([]byte, error) { return nil, ErrNotFound }

// Set implements [Store]; it stores nothing.
func (NoneStore) Set(string, []byte) error { return nil }

// Delete implements [Store]; there is nothing to delete.
func (NoneStore) Delete(string) error { return nil }

// Name implements [Store].
func (NoneStore) Name() string { return "none" }
