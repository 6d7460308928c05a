//go:build !unix

package privatefile

import (
	"os"
	"time"
)

// SetModTime sets the access and modification times of the file at path
// to t. There is no no-follow variant here; as for lock files (see
// lockFlags), the directory's ACL keeps others from planting a link.
func SetModTime(path string, t time.Time) error { return os.Chtimes(path, t, t) }
