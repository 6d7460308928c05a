//go:build linux || darwin

package vaultenv

import "net"

// peerUID is the uid of the process at the other end of a unix socket
// connection, as the kernel recorded it (fdPeerUID).
func peerUID(conn *net.UnixConn) (int, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var uid int
	var uerr error
	if err := raw.Control(func(fd uintptr) { uid, uerr = fdPeerUID(int(fd)) }); err != nil {
		return 0, err
	}
	return uid, uerr
}
