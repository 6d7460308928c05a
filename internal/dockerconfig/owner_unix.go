//go:build unix

package dockerconfig

import (
	"io/fs"
	"syscall"
)

// linkOwner returns the uid that owns the file fi describes.
func linkOwner(fi fs.FileInfo) (uid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
