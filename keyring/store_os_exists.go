package keyring

// Exists reports whether the OS keyring holds an entry under key, for a
// caller that must know whether a secret is there without reading it (the
// doctor command, which checks that each profile's secret is in place).
// On Linux it asks the Secret Service to search for the entry, one
// SearchItems call, so no secret crosses the bus; an entry only a locked
// collection holds is an error wrapping [ErrUnreachable], as it is for
// Get, since it could not be read either. Elsewhere the keyring has no such
// question (go-keyring asks for the secret), so the entry is read, in this
// process only, and dropped. Bounded by the store's timeout, like every call.
func (s *OSStore) Exists(key string) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	k, err := locateKeyring()
	if err != nil {
		return false, err
	}
	return bounded(s.timeout, "search", func() (bool, error) { return s.exists(k, key) })
}
