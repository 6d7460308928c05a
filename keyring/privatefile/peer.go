package privatefile

import (
	"io/fs"
	"net"
)

// PeerUID is the uid of the process at the other end of a unix socket
// connection, as the kernel recorded it when that process listened: it
// cannot be swapped after the connection is made. It is -1, with no error,
// where the system cannot say (neither Linux nor macOS); a caller that
// must know refuses that.
//
// It is the one rule by which the program decides whom it is talking to
// over a socket before sending a byte: the Secret Service's session bus
// (keyring) and a Vault agent's socket (vaulttoken/vaultenv) both ask it.
func PeerUID(conn *net.UnixConn) (int, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	uid := -1
	var uerr error
	if err := raw.Control(func(fd uintptr) { uid, uerr = fdPeerUID(int(fd)) }); err != nil {
		return 0, err
	}
	return uid, uerr
}

// Owner is the uid owning fi, as Lstat or Stat reported it; on systems
// without Unix owners, this user's.
func Owner(fi fs.FileInfo) int { return owner(fi) }
