package privatefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
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
		setup    func(t *testing.T, dir string)
		wantMode fs.FileMode // after EnsureDir; 0 when it must fail
		wantPerm bool        // the failure is a *PermissionError
	}{
		{name: "missing: created", wantMode: 0o700},
		{name: "private: kept", setup: mkdir(0o700), wantMode: 0o700},
		{name: "ours, group-writable: repaired", setup: mkdir(0o775), wantMode: 0o700},
		{name: "ours, world-readable: repaired", setup: mkdir(0o705), wantMode: 0o700},
		{name: "another user's, open: refused", setup: othersDir(0o777), wantPerm: true},
		{name: "a file: refused", setup: func(t *testing.T, dir string) {
			if err := os.WriteFile(dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "a", "dir")
			if tt.setup != nil {
				if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
					t.Fatal(err)
				}
				tt.setup(t, dir)
			}
			err := EnsureDir(dir)
			if tt.wantMode == 0 {
				var perr *PermissionError
				if err == nil || errors.As(err, &perr) != tt.wantPerm || errors.Is(err, ErrInsecure) != tt.wantPerm {
					t.Fatalf("EnsureDir = %v; want an error, a *PermissionError: %v", err, tt.wantPerm)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(dir); err != nil {
				t.Fatal(err)
			} else if got := fi.Mode() & (fs.ModeDir | fs.ModePerm); got != fs.ModeDir|tt.wantMode {
				t.Errorf("mode %v, want %v", got, fs.ModeDir|tt.wantMode)
			}
		})
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
