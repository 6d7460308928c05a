//go:build unix

package keyring

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// plantedLockCases are what a user who can write into the lock directory
// (or root) may leave under a key's lock name. Each setup returns a bait
// path that must not exist after Lock, or "".
func plantedLockCases() []struct {
	name  string
	setup func(t *testing.T, dir, lock string) (bait string)
} {
	return []struct {
		name  string
		setup func(t *testing.T, dir, lock string) (bait string)
	}{
		{"symlink to a missing file elsewhere", func(t *testing.T, dir, lock string) string {
			bait := filepath.Join(privateTempDir(t), "nologin")
			mustSymlink(t, bait, lock)
			return bait
		}},
		{"symlink to a missing file in the same directory", func(t *testing.T, dir, lock string) string {
			bait := filepath.Join(dir, "bait")
			mustSymlink(t, bait, lock)
			return bait
		}},
		{"FIFO", func(t *testing.T, dir, lock string) string {
			if err := syscall.Mkfifo(lock, 0o600); err != nil {
				t.Fatal(err)
			}
			return ""
		}},
		{"group-writable file", func(t *testing.T, dir, lock string) string {
			mustWriteMode(t, lock, 0o620)
			return ""
		}},
		{"another user's file", func(t *testing.T, dir, lock string) string {
			needRoot(t)
			mustWriteMode(t, lock, 0o600)
			if err := os.Chown(lock, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return ""
		}},
	}
}

// A lock file planted in our own private directory is refused without
// following a link (its target is not created), blocking on a FIFO, or
// trusting a file others can write.
func TestLockRefusesPlantedFile(t *testing.T) {
	for _, tc := range plantedLockCases() {
		t.Run(tc.name, func(t *testing.T) {
			dir := privateTempDir(t)
			bait := tc.setup(t, dir, filepath.Join(dir, "k.lock"))
			err := lockBounded(t, dir, "k")
			var perr *PermissionError
			if !errors.As(err, &perr) {
				t.Errorf("Lock = %v, want a *PermissionError", err)
			}
			assertMissing(t, bait)
		})
	}
}

// In a directory another user owns, even a 0700 one, nothing is trusted: the
// owner could have planted anything, and no bait is created.
func TestLockRefusesOthersDirectory(t *testing.T) {
	needRoot(t)
	for _, tc := range plantedLockCases() {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(privateTempDir(t), "theirs")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			bait := tc.setup(t, dir, filepath.Join(dir, "k.lock"))
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			err := lockBounded(t, dir, "k")
			var perr *PermissionError
			if !errors.As(err, &perr) {
				t.Errorf("Lock = %v, want a *PermissionError", err)
			}
			assertMissing(t, bait)
		})
	}
}

// lockBounded calls Lock, failing t if it has not returned after a minute
// (a FIFO open that blocks never returns); it returns Lock's error, after
// releasing a lock it was wrongly given.
func lockBounded(t *testing.T, dir, key string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		unlock, err := Lock(context.Background(), dir, key, time.Second)
		if err == nil {
			unlock()
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatal("Lock did not return: blocked opening the lock file")
		return nil
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("making another user's file needs root")
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func mustWriteMode(t *testing.T, path string, mode fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

func assertMissing(t *testing.T, path string) {
	t.Helper()
	if path == "" {
		return
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("bait %s was created (lstat: %v)", path, err)
	}
}
