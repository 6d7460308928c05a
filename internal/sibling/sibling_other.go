//go:build !unix

package sibling

import (
	"fmt"
	"io/fs"
)

// Trusted refuses a program file that is not a regular file; owner
// and mode bits mean nothing here, and the install directory's ACL is what
// guards it.
func Trusted(fi fs.FileInfo) error { return trusted(fi.Mode(), -1) }

// trusted is Trusted of a file's mode.
func trusted(mode fs.FileMode, _ int) error {
	if !mode.IsRegular() {
		return fmt.Errorf("it is not a regular file (%v)", mode.Type())
	}
	return nil
}
