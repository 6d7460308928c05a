package keyring

import (
	"errors"
	"fmt"
	"time"

	gokeyring "github.com/zalando/go-keyring"
)

// DefaultOSTimeout bounds every call of an [OSStore]. A Secret Service that shows an
// unlock prompt nobody can answer (no display, a CI runner) would otherwise
// block forever; a healthy one answers in milliseconds.
const DefaultOSTimeout = 3 * time.Second

// OSStore keeps entries in the OS keyring (the Secret Service on Linux, the
// Keychain on macOS, the Credential Manager on Windows) under service
// [Service], with the key as the user name. It is what --cache keyring and
// profile secrets use. Writes go through github.com/zalando/go-keyring;
// on Linux, Get and Delete talk to the Secret Service over a plain godbus
// connection of their own, because go-keyring's Get and Delete unlock the
// collection (which can prompt) and cannot be bounded by a socket deadline.
// Each reads what the other wrote.
//
// Every call is bounded by the store's timeout and then fails with an error
// wrapping [ErrUnreachable]. go-keyring cannot be cancelled, so a call that
// hangs (an unanswerable prompt) leaves a goroutine blocked until the process
// exits; for a short-lived command that is harmless.
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
	// Before the timer: a process without a session bus (a kernel keyring
	// miss on a headless machine) arms none, which would start Go's network
	// poller for nothing.
	if err := canReachKeyring(); err != nil {
		return nil, err
	}
	return bounded(s.timeout, "read", func() ([]byte, error) { return s.get(key) })
}

// Set implements [Store].
func (s *OSStore) Set(key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := canReachKeyring(); err != nil {
		return err
	}
	_, err := bounded(s.timeout, "write", func() (struct{}, error) {
		return struct{}{}, mapError("write", gokeyring.Set(Service, key, string(data)))
	})
	return err
}

// Delete implements [Store].
func (s *OSStore) Delete(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := canReachKeyring(); err != nil {
		return err
	}
	_, err := bounded(s.timeout, "delete", func() (struct{}, error) { return struct{}{}, s.del(key) })
	return err
}

// ErrNoSession is wrapped by the keyring store's errors when there is no
// keyring to talk to at all (on Linux, no D-Bus session bus): such a keyring
// holds nothing this process could reach, unlike one that did not answer.
// It wraps [ErrUnreachable].
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
