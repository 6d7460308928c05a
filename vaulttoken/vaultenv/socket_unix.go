//go:build unix

package vaultenv

import (
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// checkSocket refuses the Vault agent socket at path unless it is a socket
// of this user's or root's, found through directories that only this user
// or root controls (privatefile.CheckLookup: theirs, and not writable by
// group or others unless sticky): whoever can write the socket's directory
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
	if uid := privatefile.Owner(fi); !trusted(uid) {
		return refused("vault: refusing the Vault agent socket %s: it belongs to uid %d, not to this user (uid %d) or root", path, uid, os.Geteuid())
	}
	if err := privatefile.CheckLookup(filepath.Dir(path), path); err != nil {
		return refused("vault: refusing the Vault agent socket %s: whoever can write a directory it is found through (another user's, or one writable by group or others and not sticky) could put another socket in its place: %v", path, err)
	}
	return nil
}
