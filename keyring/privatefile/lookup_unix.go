//go:build unix

package privatefile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// CheckLookup checks what a lookup of dir relies on, as OpenSSH's
// StrictModes checks the directories above ~/.ssh: every directory the
// lookup passes through, dir included, must be owned by this user or root
// and not writable by group or others unless it is sticky (as /tmp is);
// whoever else could write one could rename what is below it and put
// another copy, or an older one, in its place. trusted is the file,
// directory or socket whose trust rests on dir, named in errors. It is the
// one rule for every directory something trusted is found in: the files
// and directories of this package, and the sockets the program connects
// to (the session bus's, a Vault agent's), which whoever can write their
// directory could replace with their own. A failure is a
// [*PermissionError].
//
// Symbolic links on the way are followed as the kernel follows them (/home
// is one on some systems, /tmp on macOS), one at a time, and what they
// lead through is checked like the rest; a link must itself be owned by
// this user or root, since in a sticky directory its owner can replace it.
// OpenSSH resolves the path with realpath(3) first and checks the result,
// which misses the directories that hold the links; here they are looked
// up, so they are checked.
//
// A missing component is an error wrapping fs.ErrNotExist, once what lies
// above it has passed. Without symbolic links this costs one lstat per
// component and allocates nothing but the system call's copy of each name.
func CheckLookup(dir, trusted string) error {
	if !filepath.IsAbs(dir) {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		dir = abs
	}
	dir = filepath.Clean(dir)
	me := os.Geteuid()
	var st syscall.Stat_t
	if err := lstat("/", &st); err != nil {
		return err
	}
	if err := checkAncestor("/", &st, me, trusted); err != nil {
		return err
	}
	// done is the directory reached so far, checked; rest is what is left
	// to look up in it. While no link has been followed, done is a prefix
	// of dir and each step a longer prefix of it, so nothing is built.
	done, rest, linked, links := "/", dir, false, 0
	for {
		rest = strings.TrimLeft(rest, "/")
		if rest == "" {
			return nil
		}
		var name string
		name, rest, _ = strings.Cut(rest, "/")
		switch {
		case name == ".":
			continue
		case name == "..":
			// done is a real directory whose parent was checked on the way.
			done = parent(done)
			continue
		}
		var next string
		if linked {
			next = filepath.Join(done, name)
		} else {
			next = dir[:len(done)+len(name)+min(len(done)-1, 1)]
		}
		if err := lstat(next, &st); err != nil {
			return err
		}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFDIR:
			if err := checkAncestor(next, &st, me, trusted); err != nil {
				return err
			}
			done = next
		case syscall.S_IFLNK:
			if links++; links > maxLinks {
				return &fs.PathError{Op: "lookup", Path: dir, Err: syscall.ELOOP}
			}
			target, err := readLink(next, &st, me, trusted)
			if err != nil {
				return err
			}
			if filepath.IsAbs(target) {
				done = "/"
			}
			rest, linked = target+"/"+rest, true
		default:
			return &fs.PathError{Op: "lookup", Path: next, Err: syscall.ENOTDIR}
		}
	}
}

// readLink returns the target of the symbolic link p, whose lstat is st,
// once it is known to be owned by me or root: in a sticky directory its
// owner could point it elsewhere.
func readLink(p string, st *syscall.Stat_t, me int, trusted string) (string, error) {
	if uid := int(st.Uid); uid != me && uid != 0 {
		return "", &PermissionError{Path: p, Mode: statMode(st), Why: fmt.Sprintf("a symbolic link above %s owned by uid %d, who could point it elsewhere: keep it under directories of your own", trusted, uid)}
	}
	return os.Readlink(p)
}

// parent is the directory above p, a clean absolute path.
func parent(p string) string {
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		return p[:i]
	}
	return "/"
}

// checkAncestor applies checkLookup's rule to the directory p, whose
// lstat is st; me is the effective uid.
func checkAncestor(p string, st *syscall.Stat_t, me int, trusted string) error {
	switch uid := int(st.Uid); {
	case uid != me && uid != 0:
		return &PermissionError{Path: p, Mode: statMode(st), Why: fmt.Sprintf("a directory above %s owned by uid %d, who could replace what is in it: keep it under directories of your own", trusted, uid)}
	case st.Mode&0o022 != 0 && st.Mode&syscall.S_ISVTX == 0:
		return &PermissionError{Path: p, Mode: statMode(st), Why: fmt.Sprintf("a directory above %s that group or others can write, and not sticky, so they could replace what is in it: keep it under directories only you or root can write", trusted)}
	}
	return nil
}

// statMode is st's type and mode as package os reports them, for errors.
func statMode(st *syscall.Stat_t) fs.FileMode {
	m := fs.FileMode(st.Mode & 0o777)
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		m |= fs.ModeDir
	case syscall.S_IFLNK:
		m |= fs.ModeSymlink
	case syscall.S_IFREG:
	default:
		m |= fs.ModeIrregular
	}
	if st.Mode&syscall.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// lstat is syscall.Lstat, retried on EINTR, with package os's error.
func lstat(p string, st *syscall.Stat_t) error {
	for {
		err := syscall.Lstat(p, st)
		switch err {
		case nil:
			return nil
		case syscall.EINTR:
			continue
		}
		return &fs.PathError{Op: "lstat", Path: p, Err: err}
	}
}
