//go:build !unix

package sibling

import (
	"fmt"
	"io/fs"
)

// Trusted refuses a program file that is not a regular file; owner
// and mode bits mean nothing here, and the install directory's ACL is what
// guards it.
func Trusted(fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("it is not a regular file (%v)", fi.Mode().Type())
	}
	return nil
}
