//go:build unix

package privatefile

import (
	"time"

	"golang.org/x/sys/unix"
)

// SetModTime sets the access and modification times of the file at path
// to t. A final symlink is not followed: its own times are set, never its
// target's, so a link planted under the name cannot make this touch a file
// elsewhere.
func SetModTime(path string, t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	return unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}
