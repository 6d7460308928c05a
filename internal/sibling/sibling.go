// Package sibling finds a program installed next to the running one and
// refuses it unless only root or this user could have put or changed it
// there. dt-credential-helper runs dt-credential-helper-plugin in two ways,
// both handing it what a token needs (the host's environment, secret
// included; the Vault identity): for a plugin host, in its own place, and
// for a Vault read, as a child. Both take the program found here.
package sibling

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// Path returns the path of program prog (without .exe) next to this
// program, for doing (such as "serving the plugin", which starts each
// error). It refuses one that is missing (an error matching
// fs.ErrNotExist) or that Trusted refuses.
func Path(prog, doing string) (string, error) {
	self, err := os.Executable()
	if err == nil {
		self, err = filepath.EvalSymlinks(self)
	}
	if err != nil {
		return "", fmt.Errorf("%s: finding this program's own path: %w", doing, err)
	}
	name := prog
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	path := filepath.Join(filepath.Dir(self), name)
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", missing{fmt.Sprintf("%s needs %s next to this program, at %s, and it is not there: "+
			"install both (scripts/install.sh, or go install .../cmd/...@latest)", doing, prog, path)}
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", doing, err)
	}
	if err := Trusted(fi); err != nil {
		return "", fmt.Errorf("refusing to run %s: %w", path, err)
	}
	return path, nil
}

// missing is the error for a program that is not there: it matches
// fs.ErrNotExist, so a caller can tell it from one refused.
type missing struct{ msg string }

func (e missing) Error() string { return e.msg }

func (e missing) Is(target error) bool { return target == fs.ErrNotExist }

// Program refuses the program at path, as found on PATH or named by a
// tool's configuration (git's helper, docker's credential helper,
// kubectl's exec plugin), unless only root or this user could have put or
// changed it there: the file it leads to passes Trusted, a symbolic link
// on the way is root's or this user's, and every directory the path and
// the link's target are found through passes privatefile.CheckLookup. A
// tool that runs a program others can replace hands them the token, or
// the secret in its environment.
func Program(path string) error {
	for hops := 0; ; hops++ {
		if err := privatefile.CheckLookup(filepath.Dir(path), path); err != nil {
			return err
		}
		li, err := os.Lstat(path)
		if err != nil {
			return err
		}
		if li.Mode().Type() != fs.ModeSymlink {
			if err := Trusted(li); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			return nil
		}
		if uid := privatefile.Owner(li); uid != 0 && uid != os.Geteuid() {
			return fmt.Errorf("%s is a symbolic link owned by uid %d, neither root nor this user", path, uid)
		}
		if hops == maxLinks {
			return fmt.Errorf("%s: more than %d symbolic links", path, maxLinks)
		}
		dest, err := os.Readlink(path)
		if err != nil {
			return err
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(path), dest)
		}
		path = dest
	}
}

// maxLinks is how many symbolic links Program follows, one at a time.
const maxLinks = 8
