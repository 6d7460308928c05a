//go:build unix

package keyring

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A FIFO planted under an entry's name must be refused, not waited on: an
// open for reading would block until a writer appeared.
func TestFileStoreRefusesFIFO(t *testing.T) {
	dir := privateTempDir(t)
	if err := syscall.Mkfifo(filepath.Join(dir, "k"), 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := NewFileStore(dir).Get("k")
		done <- result{data, err}
	}()
	select {
	case r := <-done:
		var perr *PermissionError
		if !errors.As(r.err, &perr) || r.data != nil {
			t.Fatalf("Get of a FIFO = %q, %v; want a *PermissionError", r.data, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Get of a FIFO blocked")
	}
}

func TestFileStoreRefusesDirectory(t *testing.T) {
	dir := privateTempDir(t)
	if err := os.Mkdir(filepath.Join(dir, "k"), 0o700); err != nil {
		t.Fatal(err)
	}
	var perr *PermissionError
	if data, err := NewFileStore(dir).Get("k"); !errors.As(err, &perr) {
		t.Fatalf("Get of a directory = %q, %v; want a *PermissionError", data, err)
	}
}

// Entries of every size up to the limit come back whole; one byte more is
// refused.
func TestFileStoreReadsUpToLimit(t *testing.T) {
	dir := privateTempDir(t)
	s := NewFileStore(dir)
	for _, n := range []int{0, 1, 511, 512, 4096, MaxEntrySize - 1, MaxEntrySize} {
		want := bytes.Repeat([]byte{'x'}, n)
		if err := os.WriteFile(filepath.Join(dir, "k"), want, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get("k")
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Get of %d bytes = %d bytes, %v", n, len(got), err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "k"), make([]byte, MaxEntrySize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get("k"); err == nil || got != nil {
		t.Fatalf("Get of %d bytes = %d bytes, %v; want an error", MaxEntrySize+1, len(got), err)
	}
}
