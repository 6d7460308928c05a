//go:build !unix

package keyring

import (
	"io"
	"io/fs"
	"os"
)

// checkModes is false: the permission bits Go reports here are synthetic
// (0666 or 0444), and the directory under the user profile is private by ACL.
const checkModes = false

// owner reports the current user: file ownership is not a uid here, and the
// permission bits Go reports are synthetic.
func owner(fs.FileInfo) int { return os.Geteuid() }

// readPrivate reads the cache file at path, at most limit bytes (one more
// means it is too large), checking the open file with [checkPrivate].
func readPrivate(path string, limit int) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Checked on the open file, not the name, so nothing can be swapped in
	// between the check and the read.
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := checkPrivate(path, fi); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(f, int64(limit)+1))
}
