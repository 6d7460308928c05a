//go:build unix

package sibling

import (
	"fmt"
	"io/fs"
	"os"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// Trusted refuses a program file that is not a regular file, is
// owned by neither root nor this user, or that group or others may write:
// the rule of the other files this program trusts.
func Trusted(fi fs.FileInfo) error { return trusted(fi.Mode(), privatefile.Owner(fi)) }

// trusted is Trusted of a file's mode and owner.
func trusted(mode fs.FileMode, uid int) error {
	switch {
	case !mode.IsRegular():
		return fmt.Errorf("it is not a regular file (%v)", mode.Type())
	case uid < 0:
		return fmt.Errorf("its owner cannot be read")
	case uid != 0 && uid != os.Geteuid():
		return fmt.Errorf("it is owned by uid %d, neither root nor this user (uid %d)", uid, os.Geteuid())
	case mode.Perm()&0o022 != 0:
		return fmt.Errorf("it is writable by group or others (mode %#o)", mode.Perm())
	}
	return nil
}
