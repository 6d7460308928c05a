//go:build unix

package main

import (
	"syscall"
	"testing"
)

// mkfifo plants a FIFO at path, the file that blocks an open without
// O_NONBLOCK forever.
func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
}
