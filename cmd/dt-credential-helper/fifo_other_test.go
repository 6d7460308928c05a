//go:build !unix

package main

import "testing"

// mkfifo skips: FIFOs in the file system are a Unix thing.
func mkfifo(t *testing.T, path string) {
	t.Helper()
	t.Skip("no FIFOs in this file system")
}
