package vaultenv

import "syscall"

// fdPeerUID is the uid of the process at the other end of the unix socket
// fd, as the kernel recorded it when that process listened (SO_PEERCRED):
// it cannot be swapped after the connection is made.
func fdPeerUID(fd int) (int, error) {
	cred, err := syscall.GetsockoptUcred(fd, syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	if err != nil {
		return 0, err
	}
	return int(cred.Uid), nil
}
