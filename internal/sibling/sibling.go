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
// changed it there: privatefile.CheckPath, the file at the end passing
// Trusted. A tool that runs a program others can replace hands them the
// token, or the secret in its environment.
func Program(path string) error {
	return privatefile.CheckPath(path, func(path string, mode fs.FileMode, uid int) error {
		if err := trusted(mode, uid); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	})
}
