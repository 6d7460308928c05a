// Package privatefile keeps files that only their owner may read or write:
// a private directory (created 0700; an existing one used only when it is a
// real directory of ours that others cannot get into, and never re-moded),
// atomic writes of 0600 files, reads and locks that neither follow a final
// symlink nor block on a FIFO, and the check a reader applies before
// trusting a file. Every directory a trusted file or directory is looked up
// through is checked too, as OpenSSH's StrictModes does: ours or root's,
// and not writable by group or others unless sticky. Its advice never says
// to re-mode a directory: it cannot know the program made it.
//
// Every file the program trusts follows this one rule: the token cache's
// file store and lock, the helper's profiles file and secret files, and
// auth's credentials file. It lives under keyring, not internal/, because
// keyring and auth are public and a public package must not import
// internal/; it imports nothing of this module, so any package may.
package privatefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrInsecure is wrapped by errors for a file or directory that others could
// read or write; its contents are not trusted.
var ErrInsecure = errors.New("insecure permissions")

// PermissionError reports a file or directory whose mode or owner makes it
// unsafe. It wraps [ErrInsecure].
type PermissionError struct {
	Path string
	Mode fs.FileMode
	// Why says what is wrong, e.g. "readable by group or others".
	Why string
}

// Error says which path is unsafe, its type and mode as ls shows them, and
// why; it never quotes the contents.
func (e *PermissionError) Error() string {
	return fmt.Sprintf("%s (%v): %s", e.Path, e.Mode, e.Why)
}

// Unwrap makes errors.Is(err, ErrInsecure) hold.
func (e *PermissionError) Unwrap() error { return ErrInsecure }

// EnsureDir makes sure dir is a private directory of ours. A missing one
// is created 0700: only its last component when parents is false (a
// directory the user named), with its missing parents too when parents is
// set (a default under the user's home). The mode of an existing directory
// is never changed: it may be shared (DT_CACHE_DIR=/tmp), or not ours at
// all. It is used only when Lstat shows a real directory, not a symlink
// (which is never followed: another user may have planted it), owned by the
// effective uid, with no group or other permission bits; anything else is a
// [*PermissionError] that says what is wrong and what to do.
//
// What dir is looked up through is checked first, as OpenSSH's StrictModes
// does: every directory above it must be owned by us or root and not
// writable by group or others unless sticky, and a symlink on the way must
// be ours or root's (it is followed, and where it leads is checked the
// same way). Nothing is created under a directory that fails.
func EnsureDir(dir string, parents bool) error {
	// Clean drops a trailing slash, which would make Lstat follow a
	// symlink at the last component.
	dir = filepath.Clean(dir)
	err := CheckLookup(filepath.Dir(dir), dir)
	if parents && errors.Is(err, fs.ErrNotExist) {
		// Everything above the missing directory passed: what is made
		// under it is ours and private, and is checked again below.
		if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
			return fmt.Errorf("creating directory: %w", err)
		}
		err = CheckLookup(filepath.Dir(dir), dir)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("creating directory %s: %w", dir, err)
	}
	if err != nil {
		return err
	}
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		// EEXIST: another process made it meanwhile; the checks below
		// decide, as for any existing directory.
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("creating directory: %w", err)
		}
		fi, err = os.Lstat(dir)
	}
	if err != nil {
		return fmt.Errorf("checking directory: %w", err)
	}
	return checkDir(dir, fi)
}

// CheckDir applies [EnsureDir]'s rule, ancestors included, to an existing
// dir without creating or changing anything, for a reader: a file checked
// on its descriptor is still only as safe as the directories it is looked
// up through, whose owners (or anyone who can write to them) can swap it
// for another. A missing dir, or a missing directory above it, is an error
// wrapping fs.ErrNotExist.
func CheckDir(dir string) error {
	dir = filepath.Clean(dir)
	if err := CheckLookup(filepath.Dir(dir), dir); err != nil {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	return checkDir(dir, fi)
}

// checkDir applies EnsureDir's rule to what Lstat said of dir.
func checkDir(dir string, fi fs.FileInfo) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return &PermissionError{Path: dir, Mode: fi.Mode(), Why: "a symbolic link, which is not followed: name the directory itself"}
	case !fi.IsDir():
		return &PermissionError{Path: dir, Mode: fi.Mode(), Why: "not a directory"}
	case !checkModes:
		return nil
	case owner(fi) != os.Geteuid():
		return &PermissionError{Path: dir, Mode: fi.Mode(), Why: fmt.Sprintf("directory is owned by uid %d, not by this user (uid %d): use a directory of your own", owner(fi), os.Geteuid())}
	case fi.Mode().Perm()&0o077 != 0 && fi.Mode()&fs.ModeSticky != 0:
		return &PermissionError{Path: dir, Mode: fi.Mode(), Why: "directory is shared (sticky, accessible to group or others): use a private directory of your own"}
	case fi.Mode().Perm()&0o077 != 0:
		// No chmod advice: this package cannot know whether the program
		// made the directory, and re-moding one it did not make (a home,
		// a project's directory) would break what else uses it.
		return &PermissionError{Path: dir, Mode: fi.Mode(), Why: "directory is accessible to group or others: use a private directory of your own"}
	}
	return nil
}

// Check refuses the file at path, whose type and permission bits are mode
// and whose owner is uid, unless it is a regular file of ours that group and
// others cannot access: it holds a secret. One they can is refused, as
// OpenSSH refuses a private key others can read, with the advice to make it
// private (chmod 600): it is the user's own file, not a directory others
// may share. Callers pass what they read from the open file, not the name,
// so nothing can be swapped in between the check and the read. Where owner
// and mode bits mean nothing (not unix), only the type is checked and uid
// is ignored.
func Check(path string, mode fs.FileMode, uid int) error {
	return check(path, mode, uid, 0o077)
}

// CheckOwned is [Check] for a file that holds no secret (the profiles file,
// a lock file): others may read it, but it must be a regular file of ours
// that group and others cannot write, or they could steer what it says.
func CheckOwned(path string, mode fs.FileMode, uid int) error {
	return check(path, mode, uid, 0o022)
}

// check is Check (deny 077) and CheckOwned (deny 022): a regular file of
// ours with none of the deny bits.
func check(path string, mode fs.FileMode, uid int, deny fs.FileMode) error {
	switch {
	case !mode.IsRegular():
		return &PermissionError{Path: path, Mode: mode, Why: "file is not a regular file"}
	case !checkModes:
		return nil
	case uid != os.Geteuid():
		return &PermissionError{Path: path, Mode: mode, Why: "file is owned by another user"}
	case mode.Perm()&deny == 0:
		return nil
	case deny&0o044 != 0:
		return &PermissionError{Path: path, Mode: mode, Why: "file is accessible to group or others: chmod 600 " + path}
	}
	return &PermissionError{Path: path, Mode: mode, Why: "file is writable by group or others"}
}

// Write replaces the file at path with data atomically: it makes sure the
// directory is private ([EnsureDir]; only the directory itself is created
// when missing, not its parents), then [Replace]s the file with a 0600 one.
// A concurrent reader in any process sees the old file or the new one, never
// a torn one.
func Write(path string, data []byte) error {
	if err := EnsureDir(filepath.Dir(path), false); err != nil {
		return err
	}
	return Replace(path, data, 0o600, nil)
}

// Replace is [Write]'s atomic replacement without its directory rule, for a
// file in a directory the caller has checked itself and that must keep a
// mode of its own (docker's config.json): it writes data to a temporary file
// named ".<name>.tmp-<random>" next to path, gives it mode, syncs it and
// renames it over path. check, when not nil, runs just before the rename
// (the last moment to notice that the file changed since it was read); its
// error abandons the write and is returned as it is. On failure the
// temporary file is removed; one left by a writer killed before its rename
// is for the caller to clean up ([RemoveStale]).
func Replace(path string, data []byte, mode fs.FileMode, check func() error) error {
	// The leading dot keeps temporary files out of the way of other names.
	tmp, err := os.CreateTemp(filepath.Dir(path), tempPrefix(path)+"*") // created 0600
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	// Without the sync a crash soon after the rename can leave an empty file
	// under the final name on some file systems.
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	done = true
	return nil
}

// tempPrefix begins the name of [Replace]'s temporary file for path;
// os.CreateTemp ends it with decimal digits.
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// RemoveStale removes the temporary files [Replace] left beside path when
// their writer was killed before its rename: each holds a whole copy of a
// file (docker's config.json holds every registry login), which nothing
// else would ever remove. Only what Replace makes is removed: a regular
// file of this user's named as Replace names them for path, last modified
// more than age ago, so that one a concurrent writer is writing now is
// left alone. Removing unlinks the name and follows no link. It returns
// the first error it met other than a file vanishing meanwhile; the rest
// are still tried.
func RemoveStale(path string, age time.Duration) error {
	dir, prefix := filepath.Dir(path), tempPrefix(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var first error
	for _, e := range entries {
		digits, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" {
			continue
		}
		p := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(p)
		if err == nil && (!fi.Mode().IsRegular() || owner(fi) != os.Geteuid() || time.Since(fi.ModTime()) < age) {
			continue
		}
		if err == nil {
			err = os.Remove(p)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) && first == nil {
			first = err
		}
	}
	return first
}
