// Package privatefile keeps files that only their owner may read or write:
// a private directory (created 0700; repaired when it is ours, refused when
// it is not), atomic writes of 0600 files, and the check a reader applies
// before trusting one. The token cache and the profiles file share it, so
// both follow one rule.
package privatefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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

// Error says which path is unsafe and why; it never quotes the contents.
func (e *PermissionError) Error() string {
	return fmt.Sprintf("%s: %v (mode %#o): %s", e.Path, ErrInsecure, e.Mode.Perm(), e.Why)
}

// Unwrap makes errors.Is(err, ErrInsecure) hold.
func (e *PermissionError) Unwrap() error { return ErrInsecure }

// EnsureDir creates dir (and missing parents) 0700, or repairs or refuses an
// existing one that others can get into. A directory of ours is chmod'ed to
// 0700: it holds only our files, and nothing in it is trusted without
// [Check] anyway. One owned by another user is refused with a
// [*PermissionError]: whoever owns it can write into it.
func EnsureDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating directory: %w", err)
		}
		fi, err = os.Stat(dir)
	}
	if err != nil {
		return fmt.Errorf("checking directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if !checkModes || fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if owner(fi) != os.Geteuid() {
		return &PermissionError{Path: dir, Mode: fi.Mode(), Why: "directory is accessible to others and owned by another user"}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("making directory private: %w", err)
	}
	return nil
}

// Check refuses the file at path, whose type and permission bits are mode
// and whose owner is uid, unless it is a regular file of ours that group and
// others cannot access. Callers pass what they read from the open file, not
// the name, so nothing can be swapped in between the check and the read.
// Where owner and mode bits mean nothing (not unix), only the type is
// checked and uid is ignored.
func Check(path string, mode fs.FileMode, uid int) error {
	switch {
	case !mode.IsRegular():
		return &PermissionError{Path: path, Mode: mode, Why: "file is not a regular file"}
	case !checkModes:
		return nil
	case uid != os.Geteuid():
		return &PermissionError{Path: path, Mode: mode, Why: "file is owned by another user"}
	case mode.Perm()&0o077 != 0:
		return &PermissionError{Path: path, Mode: mode, Why: "file is accessible to group or others"}
	}
	return nil
}

// Write replaces the file at path with data atomically: it makes the
// directory private ([EnsureDir]), writes a 0600 temporary file named
// ".<name>.tmp-<random>" next to path, syncs it and renames it over path. A
// concurrent reader in any process sees the old file or the new one, never a
// torn one. On failure the temporary file is removed; one left by a writer
// killed before its rename is for the caller to clean up.
func Write(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := EnsureDir(dir); err != nil {
		return err
	}
	// The leading dot keeps temporary files out of the way of other names.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // created 0600
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
	// Without the sync a crash soon after the rename can leave an empty file
	// under the final name on some file systems.
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	done = true
	return nil
}
