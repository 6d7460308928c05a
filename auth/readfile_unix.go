//go:build unix

package auth

import (
	"errors"
	"os"
	"syscall"
)

// openInput opens a file the user named as input (a credentials file)
// without following a final symlink and without blocking: a FIFO put in
// its place opens at once, and is then refused as not a regular file
// instead of hanging the program past its timeout.
func openInput(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, errSymlink
	}
	return f, err
}
