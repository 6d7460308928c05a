package privatefile

import "syscall"

// fdPeerUID is the uid of the process that listened on the other end of
// the unix socket fd (SO_PEERCRED).
func fdPeerUID(fd int) (int, error) {
	cred, err := syscall.GetsockoptUcred(fd, syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	if err != nil {
		return 0, err
	}
	return int(cred.Uid), nil
}
