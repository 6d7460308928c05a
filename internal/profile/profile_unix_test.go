//go:build unix

package profile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// privateDir is a directory of ours that others cannot get into, as the
// profiles file's directory must be.
func privateDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "dt-credential-helper")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The profiles file says which hosts get which account's tokens: Load
// trusts only a regular file of ours that others cannot write, and neither
// follows a symlink nor blocks on a FIFO.
func TestLoadRefusesUntrustedFile(t *testing.T) {
	const content = `{"version":1,"profiles":{"p":{"key_id":"k","email":"e","hosts":["evil.example"]}}}`
	write := func(t *testing.T, path string, mode os.FileMode) {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		plant func(t *testing.T, path string)
	}{
		{"world-writable", func(t *testing.T, p string) { write(t, p, 0o666) }},
		{"group-writable", func(t *testing.T, p string) { write(t, p, 0o660) }},
		{"symlink", func(t *testing.T, p string) {
			target := filepath.Join(t.TempDir(), "other.json")
			write(t, target, 0o600)
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
		}},
		{"FIFO", func(t *testing.T, p string) {
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"another user's", func(t *testing.T, p string) {
			if os.Geteuid() != 0 {
				t.Skip("giving a file to another user needs root")
			}
			write(t, p, 0o644)
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(privateDir(t), "profiles.json")
			tt.plant(t, path)
			type result struct {
				f   *File
				err error
			}
			done := make(chan result, 1)
			go func() {
				f, err := Load(path)
				done <- result{f, err}
			}()
			var f *File
			var err error
			select {
			case r := <-done:
				f, err = r.f, r.err
			case <-time.After(time.Minute):
				t.Fatal("Load did not return: blocked opening the file")
			}
			var perr *privatefile.PermissionError
			if !errors.As(err, &perr) || f != nil {
				t.Fatalf("Load = %v, %v; want a *privatefile.PermissionError", f, err)
			}
		})
	}
	t.Run("readable by others, ours: trusted", func(t *testing.T) {
		path := filepath.Join(privateDir(t), "profiles.json")
		write(t, path, 0o644)
		if f, err := Load(path); err != nil || len(f.Profiles) != 1 {
			t.Fatalf("Load = %v, %v; want the profile", f, err)
		}
	})
}

// Concurrent updates each see the others' changes: none is lost.
func TestUpdateConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config", "dt-credential-helper", "profiles.json")
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	var want []string
	for i := range n {
		name := fmt.Sprintf("p%02d", i)
		want = append(want, name)
		wg.Go(func() {
			errs[i] = Update(context.Background(), path, func(f *File) (bool, error) {
				f.Profiles[name] = Profile{KeyID: name, Email: "e@x"}
				return true, nil
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, f.Names()); diff != "" {
		t.Errorf("profiles (-want +got):\n%s", diff)
	}
	for p, mode := range map[string]os.FileMode{path: 0o600, path + ".lock": 0o600, filepath.Dir(path): os.ModeDir | 0o700} {
		if fi, err := os.Lstat(p); err != nil {
			t.Error(err)
		} else if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), mode)
		}
	}
	// A change that changes nothing writes nothing: no file appears.
	other := filepath.Join(privateDir(t), "profiles.json")
	if err := Update(context.Background(), other, func(*File) (bool, error) { return false, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(other); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an update without a change wrote the file (lstat: %v)", err)
	}
}
