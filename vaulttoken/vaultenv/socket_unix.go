//go:build unix

package vaultenv

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// checkSocket refuses the Vault agent socket at path unless it is a socket
// of this user's or root's, in a directory of this user's or root's that
// group and others cannot write (or that is sticky, so that they cannot
// rename or remove what is not theirs): whoever can write the directory
// can put another socket in its place. The socket's own mode says who may
// connect to the agent, the agent's business, and is not checked. A
// missing socket is the error Lstat gives (an agent that is down).
func checkSocket(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return refused("vault: refusing the Vault agent address %s: it is not a socket (%v)", path, fi.Mode())
	}
	if uid := ownerOf(fi); !trusted(uid) {
		return refused("vault: refusing the Vault agent socket %s: it belongs to uid %d, not to this user (uid %d) or root", path, uid, os.Geteuid())
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if uid := ownerOf(di); !trusted(uid) {
		return refused("vault: refusing the Vault agent socket %s: its directory %s belongs to uid %d, not to this user (uid %d) or root", path, dir, uid, os.Geteuid())
	}
	if di.Mode().Perm()&0o022 != 0 && di.Mode()&fs.ModeSticky == 0 {
		return refused("vault: refusing the Vault agent socket %s: its directory %s (%v) is writable by group or others, who could put another socket in its place: let the agent listen in a directory only you (or root) can write", path, dir, di.Mode())
	}
	return nil
}

// ownerOf is the uid owning fi.
func ownerOf(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
