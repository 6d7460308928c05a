//go:build !unix

package privatefile

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ReadFile reads the file at path, at most limit+1 bytes (a result longer
// than limit tells the caller the file is too large), refusing whatever
// check refuses, checked on the open file. It follows a symlink: there is
// no no-follow open here, and on Windows the directory's ACL keeps others
// from planting one.
func ReadFile(path string, limit int, check func(path string, mode fs.FileMode, uid int) error) ([]byte, error) {
	if err := CheckLookup(filepath.Dir(path), path); err != nil {
		return nil, err
	}
	return ReadFileInCheckedDir(path, limit, check)
}

// ReadFileInCheckedDir is [ReadFile] for a file in a directory this
// process has just checked, every directory above it included (with
// [EnsureDir] or [CheckDir]): the lookup is not checked again, which
// spares a cached read one lstat per component of the path.
func ReadFileInCheckedDir(path string, limit int, check func(path string, mode fs.FileMode, uid int) error) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// File ownership is not a uid here; the checks ignore it.
	if err := check(path, fi.Mode(), os.Geteuid()); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(f, int64(limit)+1))
}
