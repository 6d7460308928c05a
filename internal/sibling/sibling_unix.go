//go:build unix

package sibling

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// Trusted refuses a program file that is not a regular file, is
// owned by neither root nor this user, or that group or others may write:
// the rule of the other files this program trusts.
func Trusted(fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("it is not a regular file (%v)", fi.Mode().Type())
	}
	uid := privatefile.Owner(fi)
	if uid < 0 {
		return errors.New("its owner cannot be read")
	}
	if uid != 0 && uid != os.Geteuid() {
		return fmt.Errorf("it is owned by uid %d, neither root nor this user (uid %d)", uid, os.Geteuid())
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("it is writable by group or others (mode %#o)", fi.Mode().Perm())
	}
	return nil
}
