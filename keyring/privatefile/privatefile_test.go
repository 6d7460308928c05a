package privatefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The file store's and the profiles file's own tests cover these through
// their callers; these pin the rules themselves.

func TestEnsureDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits: directories are private by ACL")
	}
	tests := []struct {
		name string
		// setup makes what is at dir before EnsureDir; nil leaves it missing.
		setup func(t *testing.T, dir string)
		// parents is EnsureDir's argument; the parent of dir exists only
		// when setup is set.
		parents  bool
		wantMode fs.FileMode // after EnsureDir; 0 when it must fail
		wantPerm bool        // the failure is a *PermissionError
	}{
		{name: "missing, with parents: created", parents: true, wantMode: 0o700},
		{name: "missing, parent missing, no parents: refused"},
		{name: "missing, parent there: created", setup: func(*testing.T, string) {}, wantMode: 0o700},
		{name: "private: kept", setup: mkdir(0o700), wantMode: 0o700},
		// The mode of a directory this call did not create is never
		// changed: it may be shared (DT_CACHE_DIR=/tmp).
		{name: "ours, group-writable: refused, not re-moded", setup: mkdir(0o775), wantPerm: true},
		{name: "ours, world-readable: refused, not re-moded", setup: mkdir(0o705), wantPerm: true},
		{name: "ours, sticky and open to all: refused, not re-moded", setup: mkdir(fs.ModeSticky | 0o777), wantPerm: true},
		{name: "another user's, open: refused", setup: othersDir(0o777), wantPerm: true},
		{name: "another user's, 0700: refused", setup: othersDir(0o700), wantPerm: true},
		{name: "a symlink to a private directory of ours: refused", setup: symlinkTo(mkdir(0o700)), wantPerm: true},
		{name: "a symlink to an open directory: refused, target not re-moded", setup: symlinkTo(mkdir(0o777)), wantPerm: true},
		{name: "a dangling symlink: refused, target not created", setup: symlinkTo(nil), parents: true, wantPerm: true},
		{name: "a file: refused", setup: func(t *testing.T, dir string) {
			if err := os.WriteFile(dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, wantPerm: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "a", "dir")
			var before []pathState
			if tt.setup != nil {
				if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
					t.Fatal(err)
				}
				tt.setup(t, dir)
				before = states(t, filepath.Dir(dir))
			}
			err := EnsureDir(dir, tt.parents)
			if tt.wantMode == 0 {
				var perr *PermissionError
				if err == nil || errors.As(err, &perr) != tt.wantPerm || errors.Is(err, ErrInsecure) != tt.wantPerm {
					t.Fatalf("EnsureDir = %v; want an error, a *PermissionError: %v", err, tt.wantPerm)
				}
				if !strings.Contains(err.Error(), dir) {
					t.Errorf("error %q does not name %s", err, dir)
				}
				// The program cannot know it made an existing directory:
				// the advice is never to re-mode one.
				if strings.Contains(err.Error(), "chmod") {
					t.Errorf("error %q advises re-moding a directory", err)
				}
				// Nothing was created or re-moded, here or through a link.
				if before != nil {
					if diff := cmp.Diff(before, states(t, filepath.Dir(dir))); diff != "" {
						t.Errorf("a refused EnsureDir changed the file system (-before +after):\n%s", diff)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Lstat(dir); err != nil {
				t.Fatal(err)
			} else if got := fi.Mode() & (fs.ModeDir | fs.ModeSymlink | fs.ModeSticky | fs.ModePerm); got != fs.ModeDir|tt.wantMode {
				t.Errorf("mode %v, want %v", got, fs.ModeDir|tt.wantMode)
			}
		})
	}
}

// pathState is what a test compares before and after: a path under a test
// directory (and its link targets, which live there too) and its mode.
type pathState struct {
	Path string
	Mode fs.FileMode
}

// states lists every path under root with its Lstat mode.
func states(t *testing.T, root string) []pathState {
	t.Helper()
	var out []pathState
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		out = append(out, pathState{p, fi.Mode()})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// symlinkTo makes dir a symlink to a sibling "target", made by setup
// (missing when setup is nil).
func symlinkTo(setup func(*testing.T, string)) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		target := filepath.Join(filepath.Dir(dir), "target")
		if setup != nil {
			setup(t, target)
		}
		if err := os.Symlink(target, dir); err != nil {
			t.Fatal(err)
		}
	}
}

func mkdir(mode fs.FileMode) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
}

func othersDir(mode fs.FileMode) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if os.Geteuid() != 0 {
			t.Skip("giving a directory to another user needs root")
		}
		mkdir(mode)(t, dir)
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheck(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits or uids")
	}
	me := os.Geteuid()
	tests := []struct {
		name string
		mode fs.FileMode
		uid  int
		ok   bool
	}{
		{"private", 0o600, me, true},
		{"read-only", 0o400, me, true},
		{"group-readable", 0o640, me, false},
		{"readable by all", 0o644, me, false},
		{"world-writable", 0o602, me, false},
		{"another user's", 0o600, me + 1, false},
		{"not regular", fs.ModeIrregular | 0o600, me, false},
		{"a directory", fs.ModeDir | 0o700, me, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check("/p", tt.mode, tt.uid)
			var perr *PermissionError
			if tt.ok != (err == nil) || (err != nil && !errors.As(err, &perr)) {
				t.Fatalf("Check(%v, uid %d) = %v, want ok %v or a *PermissionError", tt.mode, tt.uid, err, tt.ok)
			}
			// A secret file of ours that others can get at: the advice is
			// OpenSSH's, to make it private, and only then.
			want := tt.mode.IsRegular() && tt.uid == me && tt.mode.Perm()&0o077 != 0
			if got := err != nil && strings.Contains(err.Error(), "chmod 600 /p"); got != want {
				t.Errorf("Check(%v, uid %d) = %v: advises chmod 600: %v, want %v", tt.mode, tt.uid, err, got, want)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	path := filepath.Join(dir, "f")
	for _, data := range []string{"first", "second, longer", ""} {
		if err := Write(path, []byte(data)); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != data {
			t.Fatalf("read back %q, %v; want %q", got, err, data)
		}
	}
	if runtime.GOOS != "windows" {
		for p, want := range map[string]fs.FileMode{dir: fs.ModeDir | 0o700, path: 0o600} {
			if fi, err := os.Stat(p); err != nil {
				t.Error(err)
			} else if got := fi.Mode() & (fs.ModeDir | fs.ModePerm); got != want {
				t.Errorf("%s: mode %v, want %v", p, got, want)
			}
		}
	}

	// A failed rename (a directory under the name) leaves no temporary file.
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(dir, "d"), []byte("x")); err == nil {
		t.Fatal("Write over a directory succeeded")
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") {
			t.Errorf("temporary file left behind: %s", de.Name())
		}
	}
}

// TestReplace: the file gets the mode asked for, not Write's 0600, in a
// directory Replace neither creates nor checks; check's error abandons the
// write, returned as it is, with the old file in place and no temporary
// file left.
func TestReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	if err := Replace(path, []byte("first"), 0o644, nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil {
		t.Fatal(err)
	} else if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	if err := Replace(filepath.Join(dir, "missing", "f"), nil, 0o600, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Replace in a missing directory: %v; want fs.ErrNotExist (it creates no directory)", err)
	}

	changed := errors.New("changed meanwhile")
	checked := false
	err := Replace(path, []byte("second"), 0o600, func() error {
		checked = true
		// The new contents are complete, only not yet in place.
		if got, _ := os.ReadFile(path); string(got) != "first" {
			t.Errorf("before the rename the file holds %q", got)
		}
		return changed
	})
	if err != changed || !checked {
		t.Errorf("Replace with a failing check: %v (check ran: %v); want the check's error as it is", err, checked)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "first" {
		t.Errorf("after the abandoned write: %q, %v; want the old file", got, err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") {
			t.Errorf("temporary file left behind: %s", de.Name())
		}
	}
}

func TestCheckOwned(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits or uids")
	}
	me := os.Geteuid()
	tests := []struct {
		name string
		mode fs.FileMode
		uid  int
		ok   bool
	}{
		{"private", 0o600, me, true},
		{"readable by all", 0o644, me, true},
		{"group-writable", 0o660, me, false},
		{"world-writable", 0o606, me, false},
		{"another user's", 0o644, me + 1, false},
		{"FIFO", fs.ModeNamedPipe | 0o600, me, false},
		{"a directory", fs.ModeDir | 0o700, me, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckOwned("/p", tt.mode, tt.uid)
			var perr *PermissionError
			if tt.ok != (err == nil) || (err != nil && !errors.As(err, &perr)) {
				t.Fatalf("CheckOwned(%v, uid %d) = %v, want ok %v or a *PermissionError", tt.mode, tt.uid, err, tt.ok)
			}
		})
	}
}

// leftover makes the temporary file Replace would leave beside path if its
// writer were killed before the rename: Replace's own, kept by a hard link
// from its check and put back under its name once Replace removed it.
func leftover(t *testing.T, path string, age time.Duration) string {
	t.Helper()
	var tmp string
	keep := filepath.Join(t.TempDir(), "kept")
	stop := errors.New("killed")
	before, _ := os.ReadDir(filepath.Dir(path))
	err := Replace(path, []byte(`{"auths": {}}`), 0o600, func() error {
		// The one entry Replace added is its temporary file.
		entries, _ := os.ReadDir(filepath.Dir(path))
		for _, e := range entries {
			if !slices.ContainsFunc(before, func(b fs.DirEntry) bool { return b.Name() == e.Name() }) {
				tmp = filepath.Join(filepath.Dir(path), e.Name())
			}
		}
		if err := os.Link(tmp, keep); err != nil {
			t.Fatal(err)
		}
		return stop
	})
	if err != stop {
		t.Fatalf("Replace: %v", err)
	}
	if err := os.Rename(keep, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, time.Now().Add(-age), time.Now().Add(-age)); err != nil {
		t.Fatal(err)
	}
	return tmp
}

// TestRemoveStale: a temporary file Replace left long enough ago is
// removed; one being written now, another file's, one not named as
// Replace names them, a link or directory under such a name and another
// user's are left.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	stale := leftover(t, path, time.Hour)
	kept := []string{
		leftover(t, path, 0),
		leftover(t, filepath.Join(dir, "other.json"), time.Hour),
		filepath.Join(dir, ".config.json.tmp-1x"),
		filepath.Join(dir, ".config.json.tmp-2"),
	}
	if err := os.WriteFile(kept[2], nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(kept[3], 0o700); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		link := filepath.Join(dir, ".config.json.tmp-3")
		if err := os.Symlink(stale, link); err != nil {
			t.Fatal(err)
		}
		kept = append(kept, link)
	}
	if os.Geteuid() == 0 {
		theirs := leftover(t, path, time.Hour)
		if err := os.Chown(theirs, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		kept = append(kept, theirs)
	}
	if err := RemoveStale(path, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the stale %s is still there: %v", stale, err)
	}
	for _, p := range kept {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	if err := RemoveStale(filepath.Join(dir, "missing", "config.json"), time.Minute); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("in a missing directory: %v, want fs.ErrNotExist", err)
	}
}

// TestLockWithin: a lock another holder keeps is given up on after the
// wait, with an error that says so; once released, it is taken.
func TestLockWithin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edit.lock")
	unlock, err := LockWithin(t.Context(), path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockWithin(t.Context(), path, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "still locked by another process after 50ms") {
		t.Errorf("a held lock: %v, want it to say it is still locked after the wait", err)
	}
	unlock()
	again, err := LockWithin(t.Context(), path, time.Second)
	if err != nil {
		t.Fatalf("a released lock: %v", err)
	}
	again()
}
