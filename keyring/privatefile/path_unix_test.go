//go:build unix

package privatefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckPath: a file reached through links of ours passes to check,
// which sees the file at the end; a link of another user's, a directory
// others can write on the way (the link's or the target's), or a loop is
// refused before check is asked.
func TestCheckPath(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real", "config")
	must(t, os.MkdirAll(filepath.Dir(target), 0o700))
	must(t, os.WriteFile(target, []byte("x"), 0o600))
	must(t, os.Symlink("real/config", filepath.Join(dir, "rel")))
	must(t, os.Symlink(filepath.Join(dir, "rel"), filepath.Join(dir, "abs")))
	var seen string
	var perr *PermissionError
	record := func(path string, mode fs.FileMode, uid int) error {
		seen = path
		return CheckOwned(path, mode, uid)
	}
	for _, p := range []string{target, filepath.Join(dir, "rel"), filepath.Join(dir, "abs")} {
		if seen = ""; CheckPath(p, record) != nil || seen != target {
			t.Errorf("CheckPath(%s): check saw %q, want the target %s", p, seen, target)
		}
	}

	// A link in a linked directory: its ".." is the real directory's
	// parent, as the kernel reads it, not the one its name suggests.
	decoy := filepath.Join(dir, "home", "conf")
	must(t, os.MkdirAll(filepath.Join(dir, "home"), 0o700))
	must(t, os.WriteFile(decoy, []byte("x"), 0o600))
	must(t, os.MkdirAll(filepath.Join(dir, "real2", "y"), 0o700))
	writable := filepath.Join(dir, "real2", "conf")
	must(t, os.WriteFile(writable, []byte("x"), 0o600))
	must(t, os.Chmod(writable, 0o666))
	must(t, os.Symlink("../conf", filepath.Join(dir, "real2", "y", "link")))
	must(t, os.Symlink(filepath.Join(dir, "real2", "y"), filepath.Join(dir, "home", "a")))
	seen = ""
	if err := CheckPath(filepath.Join(dir, "home", "a", "link"), record); !errors.As(err, &perr) || seen != writable {
		t.Errorf("a relative link in a linked directory: %v, check saw %q; want %s refused (the kernel opens it, not %s)", err, seen, writable, decoy)
	}

	must(t, os.Symlink("loop", filepath.Join(dir, "loop")))
	if err := CheckPath(filepath.Join(dir, "loop"), record); err == nil || !strings.Contains(err.Error(), "symbolic links") {
		t.Errorf("a loop: %v", err)
	}

	open := filepath.Join(dir, "open")
	must(t, os.Mkdir(open, 0o700))
	must(t, os.Symlink(target, filepath.Join(open, "link")))
	must(t, os.Chmod(open, 0o777))
	seen = ""
	if err := CheckPath(filepath.Join(open, "link"), record); !errors.As(err, &perr) || seen != "" {
		t.Errorf("a link in a directory anyone can write: %v (check saw %q)", err, seen)
	}
	must(t, os.Chmod(open, 0o700))

	if os.Geteuid() == 0 {
		theirs := filepath.Join(dir, "theirs")
		must(t, os.Symlink(target, theirs))
		must(t, os.Lchown(theirs, 65534, 65534))
		if err := CheckPath(theirs, record); !errors.As(err, &perr) || !strings.Contains(err.Error(), "uid 65534") {
			t.Errorf("another user's link: %v", err)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
