//go:build unix

package privatefile

import (
	"io/fs"
	"path/filepath"
	"slices"
	"syscall"
)

// ReadFile reads the file at path, at most limit+1 bytes (a result longer
// than limit tells the caller the file is too large). It refuses a file
// looked up through a directory that others could write or that another
// user owns (the rule [EnsureDir] applies above a directory), a symlink
// (the open does not follow one) and whatever check refuses ([Check] or
// [CheckOwned]), checked on the open descriptor, not the name, so nothing
// can be swapped in between the check and the read. A missing file, or a
// missing directory above it, is an error wrapping fs.ErrNotExist.
//
// It uses system calls directly rather than package os: an *os.File
// registers with Go's network poller, and the first registration sets the
// poller up (an epoll instance, an eventfd and a waiting thread), which on a
// cached call costs more than the read itself.
// O_NONBLOCK keeps a FIFO planted under the name from blocking the open;
// the descriptor is used for one regular-file read, where it has no effect.
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
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err == syscall.ELOOP {
		return nil, &PermissionError{Path: path, Mode: fs.ModeSymlink, Why: "a symbolic link, which is not followed: name the file itself"}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	mode := fs.FileMode(st.Mode & 0o777)
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		mode |= fs.ModeIrregular // the exact type does not matter: refused
	}
	if err := check(path, mode, int(st.Uid)); err != nil {
		return nil, err
	}
	// One byte past limit tells the caller the file is too large.
	buf := make([]byte, 0, min(max(int(st.Size), 0), limit)+1)
	for len(buf) <= limit {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(cap(buf), limit+1-len(buf)))
		}
		n, err := syscall.Read(fd, buf[len(buf):min(cap(buf), limit+1)])
		if err == syscall.EINTR || err == syscall.EAGAIN {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			break
		}
		buf = buf[:len(buf)+n]
	}
	return buf, nil
}

func fstat(fd int, st *syscall.Stat_t) error {
	for {
		err := syscall.Fstat(fd, st)
		if err != syscall.EINTR {
			return err
		}
	}
}
