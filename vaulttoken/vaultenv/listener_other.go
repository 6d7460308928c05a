//go:build !linux

package vaultenv

import "net"

// checkListener has no way here to tell whose a loopback listener is
// (macOS and Windows do not list sockets with their owners): loopback is
// shared by all local users, as README says.
func checkListener(net.Conn) error { return nil }
