//go:build unix

package keyring

import (
	"io/fs"
	"slices"
	"syscall"

	"github.com/dt-credential-helper/dt-credential-helper/internal/privatefile"
)

// readPrivate reads the cache file at path, at most limit+1 bytes (a result
// longer than limit tells the caller the file is too large), refusing a
// symlink, a non-regular file and a file others could read or write, all
// checked on the open descriptor.
//
// It uses system calls directly rather than package os: an *os.File
// registers with Go's network poller, and the first registration sets the
// poller up (an epoll instance, an eventfd and a waiting thread), which on a
// cached call costs more than the read itself.
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
	mode := fs.FileMode(st.Mode & 0o777)
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		mode |= fs.ModeIrregular // the exact type does not matter: refused
	}
	if err := privatefile.Check(path, mode, int(st.Uid)); err != nil {
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
