//go:build !unix

package privatefile

import "os"

// lockFlags opens a lock file, created when missing. There is no no-follow
// open here; on Windows the directory's ACL keeps others from planting a
// link, and a named pipe does not live in the file system.
func lockFlags() int { return os.O_CREATE | os.O_RDONLY }
