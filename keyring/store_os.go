package keyring

import (
	"fmt"
	"time"
)

// DefaultOSTimeout bounds every call of an [OSStore]. A Secret Service that shows an
// unlock prompt nobody can answer (no display, a CI runner) would otherwise
// block forever; a healthy one answers in milliseconds.
const DefaultOSTimeout = 3 * time.Second

// OSStore keeps entries in the OS keyring (the Secret Service on Linux, the
// Keychain on macOS, the Credential Manager on Windows) under service
// [Service], with the key as the user name. It is what --cache keyring and
// profile secrets use.
//
// On Linux every call talks to the Secret Service over a plain godbus
// connection of its own, made for the call, and only to a session bus of
// our own user: the bus's socket is checked before anything is sent
// (sessionbus_linux.go), and a bus that fails the check counts as none
// ([ErrNoSession]). The entries are go-keyring's (same attributes, label
// and collection), so each reads what the other wrote, but no call unlocks
// a collection or waits for a prompt. Elsewhere the calls go through
// github.com/zalando/go-keyring.
//
// Every call is bounded by the store's timeout and then fails with an error
// wrapping [ErrUnreachable]. go-keyring cannot be cancelled, so on macOS and
// Windows a call that hangs leaves a goroutine blocked until the process
// exits; for a short-lived command that is harmless. On Linux the socket
// carries the deadline, so nothing is left behind.
type OSStore struct {
	timeout time.Duration
}

var _ Store = (*OSStore)(nil)

// NewOSStore returns the OS keyring store; timeout <= 0 means
// [DefaultOSTimeout]. It connects to nothing until the first call.
func NewOSStore(timeout time.Duration) *OSStore {
	if timeout <= 0 {
		timeout = DefaultOSTimeout
	}
	return &OSStore{timeout: timeout}
}

// Name implements [Store].
func (s *OSStore) Name() string { return "keyring" }

// Get implements [Store]. The entry is returned as stored, even if it is not
// one of ours; decoding is the caller's business.
func (s *OSStore) Get(key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	// Before the timer: a process without a session bus of its own (a
	// kernel keyring miss on a headless machine) arms none, which would
	// start Go's network poller for nothing.
	k, err := locateKeyring()
	if err != nil {
		return nil, err
	}
	return bounded(s.timeout, "read", func() ([]byte, error) { return s.get(k, key) })
}

// Set implements [Store].
func (s *OSStore) Set(key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	k, err := locateKeyring()
	if err != nil {
		return err
	}
	_, err = bounded(s.timeout, "write", func() (struct{}, error) { return struct{}{}, s.set(k, key, data) })
	return err
}

// Delete implements [Store].
func (s *OSStore) Delete(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	k, err := locateKeyring()
	if err != nil {
		return err
	}
	_, err = bounded(s.timeout, "delete", func() (struct{}, error) { return struct{}{}, s.del(k, key) })
	return err
}

// ErrNoSession is wrapped by the keyring store's errors when there is no
// keyring to talk to at all (on Linux, no D-Bus session bus, or only one
// that is not our own user's): such a keyring holds nothing this process
// could reach, unlike one that did not answer. It wraps [ErrUnreachable].
var ErrNoSession = fmt.Errorf("%w: no D-Bus session bus", ErrUnreachable)

// errNoAnswer is a keyring call that hung: it wraps ErrUnreachable.
var errNoAnswer = fmt.Errorf("%w: no answer", ErrUnreachable)

// bounded runs f, giving up after timeout with an error wrapping
// ErrUnreachable (through errNoAnswer). f keeps running in the background if
// it hangs.
func bounded[T any](timeout time.Duration, op string, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1) // buffered: a late f must not block forever
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.v, r.err
	case <-timer.C:
		var zero T
		return zero, fmt.Errorf("%w: %s did not answer within %v (a locked keyring waiting for a prompt?)", errNoAnswer, op, timeout)
	}
}
