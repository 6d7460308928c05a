package testutil

import (
	"os"
	"testing"
)

// Kill kills the process pid, failing tb if it cannot.
func Kill(tb testing.TB, pid int) {
	tb.Helper()
	proc, err := os.FindProcess(pid)
	if err != nil {
		tb.Fatal(err)
	}
	if err := proc.Kill(); err != nil {
		tb.Fatal(err)
	}
}
