package privatefile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// maxLinks bounds the symbolic links one lookup follows, as the kernel's
// own limit (40 on Linux) does: a loop is an error, not a hang.
const maxLinks = 40

// CheckPath checks the file at path and the way to it, for a file another
// program reads or runs on the user's behalf (a program a tool runs, a
// tool's configuration) and which may sit behind symbolic links: every
// directory on the way passes [CheckLookup], every link is this user's or
// root's (in a sticky directory a link's owner can replace it), links are
// followed one at a time as the kernel follows them (at most 40, its own
// limit), and
// the file at the end passes check, given its mode and owner (such as
// [CheckOwned]).
func CheckPath(path string, check func(path string, mode fs.FileMode, uid int) error) error {
	for hops := 0; ; hops++ {
		if err := CheckLookup(filepath.Dir(path), path); err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		if fi.Mode().Type() != fs.ModeSymlink {
			return check(path, fi.Mode(), owner(fi))
		}
		if uid := owner(fi); uid != 0 && uid != os.Geteuid() {
			return &PermissionError{Path: path, Mode: fi.Mode(), Why: fmt.Sprintf("a symbolic link owned by uid %d, neither this user's nor root's", uid)}
		}
		if hops == maxLinks {
			return fmt.Errorf("%s: more than %d symbolic links", path, maxLinks)
		}
		dest, err := os.Readlink(path)
		if err != nil {
			return err
		}
		if !filepath.IsAbs(dest) {
			// Relative to the directory the link is in as the kernel
			// finds it: through its own links (checked above), so that a
			// ".." in dest leads where the kernel's would.
			dir, err := filepath.EvalSymlinks(filepath.Dir(path))
			if err != nil {
				return err
			}
			dest = filepath.Join(dir, dest)
		}
		path = dest
	}
}
