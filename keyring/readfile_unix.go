//go:build unix

package keyring

import (
	"io/fs"
	"slices"
	"syscall"
	"time"
)

// readPrivate reads the cache file at path, at most limit bytes (more is an
// error), refusing a symlink, a non-regular file and a file others could
// read or write, all checked on the open descriptor.
//
// It uses system calls directly rather than package os: an *os.File sets up
// Go's network poller (an epoll instance, an eventfd and a waiting thread)
// on first use, which on a cached call costs more than the read itself.
// O_NONBLOCK keeps a FIFO planted in the cache directory from blocking the
// open; the descriptor is used for one regular-file read, where it has no
// effect.
func readPrivate(path string, limit int) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if err := checkPrivate(path, statInfo{path: path, st: &st}); err != nil {
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

// statInfo is the [fs.FileInfo] of a raw stat, for [checkPrivate].
type statInfo struct {
	path string
	st   *syscall.Stat_t
}

func (s statInfo) Name() string       { return s.path }
func (s statInfo) Size() int64        { return s.st.Size }
func (s statInfo) ModTime() time.Time { return time.Time{} } // not needed
func (s statInfo) IsDir() bool        { return s.Mode().IsDir() }
func (s statInfo) Sys() any           { return s.st }

func (s statInfo) Mode() fs.FileMode {
	m := fs.FileMode(s.st.Mode & 0o777)
	switch s.st.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		m |= fs.ModeDir
	case syscall.S_IFLNK:
		m |= fs.ModeSymlink
	case syscall.S_IFIFO:
		m |= fs.ModeNamedPipe
	case syscall.S_IFSOCK:
		m |= fs.ModeSocket
	case syscall.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFBLK:
		m |= fs.ModeDevice
	}
	return m
}
