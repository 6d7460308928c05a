//go:build !unix

package privatefile

import (
	"io/fs"
	"os"
)

// checkModes is false: the permission bits Go reports here are synthetic
// (0666 or 0444), and a directory under the user profile is private by ACL.
const checkModes = false

// owner reports the current user: file ownership is not a uid here.
func owner(fs.FileInfo) int { return os.Geteuid() }
