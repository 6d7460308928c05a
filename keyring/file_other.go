//go:build !unix

package keyring

import (
	"io/fs"
	"os"
)

// checkModes is false: the permission bits Go reports here are synthetic
// (0666 or 0444), and the directory under the user profile is private by ACL.
const checkModes = false

// oNoFollow is not available here; the cache directory's ACLs protect it.
const oNoFollow = 0

// owner reports the current user: file ownership is not a uid here, and the
// permission bits Go reports are synthetic.
func owner(fs.FileInfo) int { return os.Geteuid() }
