//go:build unix

package privatefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tree is what a test of the ancestor rule builds under base before it
// checks: it returns the directory whose trust is in question (for
// CheckDir and EnsureDir; ReadFile reads "f" in it) and the path the
// refusal must name ("" when the check must pass).
type tree func(t *testing.T, base string) (dir, culprit string)

// ancestorTrees are the cases of the ancestor rule, shared by CheckDir,
// EnsureDir and ReadFile. The last component of dir is always a private
// directory of ours: only what is above it is in question.
func ancestorTrees() []struct {
	name string
	make tree
} {
	return []struct {
		name string
		make tree
	}{
		{"private ancestors", func(t *testing.T, base string) (string, string) {
			return private(t, base, "a", "dir"), ""
		}},
		{"group-writable ancestor, not sticky", func(t *testing.T, base string) (string, string) {
			shared := mkdirAt(t, filepath.Join(base, "shared"), 0o775)
			return private(t, shared, "xdg", "dir"), shared
		}},
		{"world-writable ancestor, not sticky", func(t *testing.T, base string) (string, string) {
			shared := mkdirAt(t, filepath.Join(base, "shared"), 0o777)
			return private(t, shared, "dir"), shared
		}},
		{"sticky world-writable ancestor, as /tmp", func(t *testing.T, base string) (string, string) {
			tmp := mkdirAt(t, filepath.Join(base, "tmp"), fs.ModeSticky|0o777)
			return private(t, tmp, "dir"), ""
		}},
		{"ancestor owned by another user, closed", func(t *testing.T, base string) (string, string) {
			theirs := mkdirAt(t, filepath.Join(base, "theirs"), 0o755)
			d := private(t, theirs, "dir")
			chown(t, theirs)
			return d, theirs
		}},
		{"sticky ancestor owned by another user", func(t *testing.T, base string) (string, string) {
			theirs := mkdirAt(t, filepath.Join(base, "theirs"), fs.ModeSticky|0o777)
			d := private(t, theirs, "dir")
			chown(t, theirs)
			return d, theirs
		}},
		// A symlinked ancestor is followed, as the kernel follows it (/home
		// is one on some systems, /tmp on macOS), and what it leads through
		// is checked like any other ancestor.
		{"symlinked ancestor, to a private directory", func(t *testing.T, base string) (string, string) {
			real := private(t, base, "real")
			link(t, real, filepath.Join(base, "link"))
			mkdirAt(t, filepath.Join(real, "dir"), 0o700)
			return filepath.Join(base, "link", "dir"), ""
		}},
		{"relative symlinked ancestor with ..", func(t *testing.T, base string) (string, string) {
			real := private(t, base, "real")
			mkdirAt(t, filepath.Join(real, "dir"), 0o700)
			a := private(t, base, "a")
			link(t, "../real", filepath.Join(a, "l"))
			return filepath.Join(a, "l", "dir"), ""
		}},
		{"symlinked ancestor, to a directory under a group-writable one", func(t *testing.T, base string) (string, string) {
			shared := mkdirAt(t, filepath.Join(base, "shared"), 0o775)
			real := private(t, shared, "real")
			mkdirAt(t, filepath.Join(real, "dir"), 0o700)
			link(t, real, filepath.Join(base, "link"))
			return filepath.Join(base, "link", "dir"), shared
		}},
		{"symlink inside a symlink's target, under a world-writable directory", func(t *testing.T, base string) (string, string) {
			real := private(t, base, "real")
			mkdirAt(t, filepath.Join(real, "dir"), 0o700)
			open := mkdirAt(t, filepath.Join(base, "open"), 0o777)
			link(t, real, filepath.Join(open, "l2"))
			link(t, filepath.Join(open, "l2"), filepath.Join(base, "l1"))
			return filepath.Join(base, "l1", "dir"), open
		}},
		{"another user's symlink in a sticky directory", func(t *testing.T, base string) (string, string) {
			real := private(t, base, "real")
			mkdirAt(t, filepath.Join(real, "dir"), 0o700)
			pub := mkdirAt(t, filepath.Join(base, "pub"), fs.ModeSticky|0o777)
			l := filepath.Join(pub, "l")
			link(t, real, l)
			lchown(t, l)
			return filepath.Join(l, "dir"), l
		}},
	}
}

// private makes base/names... as directories of ours, 0700 each, and
// returns the last.
func private(t *testing.T, base string, names ...string) string {
	t.Helper()
	p := base
	for _, n := range names {
		p = mkdirAt(t, filepath.Join(p, n), 0o700)
	}
	return p
}

func mkdirAt(t *testing.T, p string, mode fs.FileMode) string {
	t.Helper()
	mkdir(mode)(t, p)
	return p
}

func link(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

func chown(t *testing.T, p string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("giving a directory to another user needs root")
	}
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
}

func lchown(t *testing.T, p string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("giving a symlink to another user needs root")
	}
	if err := os.Lchown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
}

// wantAncestorVerdict fails t unless err is nil when culprit is "", and
// otherwise a *PermissionError naming culprit and the trusted path.
func wantAncestorVerdict(t *testing.T, err error, culprit, trusted string) {
	t.Helper()
	if culprit == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	var perr *PermissionError
	if !errors.As(err, &perr) || !errors.Is(err, ErrInsecure) {
		t.Fatalf("err = %v; want a *PermissionError naming %s", err, culprit)
	}
	if perr.Path != culprit || !strings.Contains(err.Error(), trusted) {
		t.Errorf("err = %v; want it about %s, naming %s", err, culprit, trusted)
	}
	if strings.Contains(err.Error(), "chmod") {
		t.Errorf("err = %v advises re-moding a directory the program did not create", err)
	}
}

// TestAncestors: every directory a trusted path is looked up through must
// be owned by us or root and not writable by group or others unless it is
// sticky, as OpenSSH's StrictModes has it; anyone who can write one could
// rename what is below it and put an older or another copy in its place.
func TestAncestors(t *testing.T) {
	for _, tt := range ancestorTrees() {
		t.Run(tt.name, func(t *testing.T) {
			t.Run("CheckDir", func(t *testing.T) {
				dir, culprit := tt.make(t, t.TempDir())
				wantAncestorVerdict(t, CheckDir(dir), culprit, dir)
			})
			t.Run("EnsureDir existing", func(t *testing.T) {
				dir, culprit := tt.make(t, t.TempDir())
				wantAncestorVerdict(t, EnsureDir(dir, false), culprit, dir)
			})
			t.Run("EnsureDir creating", func(t *testing.T) {
				base := t.TempDir()
				dir, culprit := tt.make(t, base)
				if err := os.Remove(dir); err != nil {
					t.Fatal(err)
				}
				before := states(t, base)
				err := EnsureDir(filepath.Join(dir, "sub"), true)
				wantAncestorVerdict(t, err, culprit, filepath.Join(dir, "sub"))
				if culprit != "" {
					if diff := cmp.Diff(before, states(t, base)); diff != "" {
						t.Errorf("a refused EnsureDir changed the file system (-before +after):\n%s", diff)
					}
				}
			})
			t.Run("ReadFile", func(t *testing.T) {
				dir, culprit := tt.make(t, t.TempDir())
				path := filepath.Join(dir, "f")
				if err := os.WriteFile(path, []byte("data"), 0o600); err != nil {
					t.Fatal(err)
				}
				data, err := ReadFile(path, 100, Check)
				wantAncestorVerdict(t, err, culprit, path)
				if err != nil && len(data) != 0 {
					t.Errorf("a refused ReadFile returned %q", data)
				}
			})
		})
	}
}

// TestAncestorsLoop: a symlink loop above a trusted path is an error, not
// a hang.
func TestAncestorsLoop(t *testing.T) {
	base := t.TempDir()
	link(t, filepath.Join(base, "b"), filepath.Join(base, "a"))
	link(t, filepath.Join(base, "a"), filepath.Join(base, "b"))
	if err := CheckDir(filepath.Join(base, "a", "dir")); err == nil {
		t.Fatal("CheckDir through a symlink loop succeeded")
	}
}

// TestTempDirPasses: the temporary directories tests make (t.TempDir under
// $TMPDIR, /tmp by default) pass the ancestor rule, so the tests of every
// package that keeps files there test what they mean to.
func TestTempDirPasses(t *testing.T) {
	if err := CheckDir(private(t, t.TempDir(), "dir")); err != nil {
		t.Fatal(err)
	}
}
