//go:build !unix

package keyring

import (
	"io"
	"os"

	"github.com/dt-credential-helper/dt-credential-helper/internal/privatefile"
)

// readPrivate reads the cache file at path, at most limit+1 bytes (a result
// longer than limit tells the caller the file is too large), refusing a
// file that is not regular. It follows a symlink: there is no no-follow open
// here, and on Windows the directory's ACL keeps others from planting one.
func readPrivate(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
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
	// File ownership is not a uid here; privatefile.Check ignores it.
	if err := privatefile.Check(path, fi.Mode(), os.Geteuid()); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(f, int64(limit)+1))
}
