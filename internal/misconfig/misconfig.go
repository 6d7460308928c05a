// Package misconfig says which errors are the caller's configuration: a
// flag, a variable, a profile or a file that must change before a token can
// be had, as opposed to a failure that may pass or a refusal by a server.
//
// The rule is a behaviour, as net.Error's Temporary() is: an error that
// has a Misconfigured() bool method returning true is one, whatever its
// type. auth.ConfigError and vaulttoken.Error have the method (public
// packages, which cannot import this one); [Error] gives it to the errors
// of the program's own packages (profile, tokens, vaultproc, the
// commands). Each reader maps [Is] to its own answer: the command exits 2,
// the plugin answers FailedPrecondition, the Vault engine a 400, and the
// vault-token child's reply says "misconfigured", which the helper reads
// back into an error with the method.
package misconfig

import (
	"errors"
	"fmt"
)

// Is reports whether err says the caller's configuration must change: the
// first error in its chain with a Misconfigured() bool method says so, as
// the first with a Temporary() method says whether a failure may pass.
func Is(err error) bool {
	var m interface{ Misconfigured() bool }
	return errors.As(err, &m) && m.Misconfigured()
}

// Error is a configuration error of this program's own: its message and
// what errors.Is and errors.As find are those of the error it holds.
type Error struct{ err error }

// Wrap makes err a configuration error; nil stays nil.
func Wrap(err error) error {
	if err == nil {
		return nil
	}
	return &Error{err}
}

// Errorf is Wrap(fmt.Errorf(format, a...)).
func Errorf(format string, a ...any) error { return &Error{fmt.Errorf(format, a...)} }

func (e *Error) Error() string { return e.err.Error() }

// Unwrap returns the error Wrap was given.
func (e *Error) Unwrap() error { return e.err }

// Misconfigured reports true: see the package doc.
func (e *Error) Misconfigured() bool { return true }
