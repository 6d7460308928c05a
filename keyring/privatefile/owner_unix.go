//go:build unix

package privatefile

import (
	"io/fs"
	"syscall"
)

// checkModes says whether Unix owner and mode bits mean anything here.
const checkModes = true

// owner returns the uid owning fi.
func owner(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
