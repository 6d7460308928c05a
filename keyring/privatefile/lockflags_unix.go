//go:build unix

package privatefile

import (
	"os"
	"runtime"
	"syscall"
)

// lockFlags opens a lock file: created when missing, never following a
// final symlink (ELOOP instead, and nothing created), never blocking (a
// FIFO opens at once rather than waiting for a writer). It is read-only
// where flock allows that; gofrs/flock needs read-write on AIX and Solaris,
// where it locks with fcntl.
func lockFlags() int {
	flags := os.O_CREATE | syscall.O_NOFOLLOW | syscall.O_NONBLOCK
	switch runtime.GOOS {
	case "aix", "solaris", "illumos":
		return flags | os.O_RDWR
	}
	return flags | os.O_RDONLY
}
