//go:build !unix

package vaultenv

// checkSocket checks nothing here: file owners and modes are not what
// guards a socket file on Windows.
func checkSocket(string) error { return nil }
