//go:build unix

package testutil

import (
	"errors"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
)

// trapExit runs a shell that traps SIGHUP (exit 42) and sends it to itself:
// 42 when the shell could trap it, 0 when it started with SIGHUP ignored.
func trapExit(t *testing.T) int {
	t.Helper()
	err := exec.Command("sh", "-c", `trap 'exit 42' HUP; kill -HUP $$; exit 0`).Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func TestDefaultSignalsForChildren(t *testing.T) {
	// As under nohup: this process ignores SIGHUP.
	signal.Ignore(syscall.SIGHUP)
	t.Cleanup(func() { signal.Reset(syscall.SIGHUP) })
	if got := trapExit(t); got != 0 {
		t.Fatalf("with SIGHUP ignored, the child's trap ran (exit %d): this test shows nothing here", got)
	}
	t.Run("reset", func(t *testing.T) {
		DefaultSignalsForChildren(t, syscall.SIGHUP)
		if got := trapExit(t); got != 42 {
			t.Errorf("child exit %d, want 42 from its SIGHUP trap", got)
		}
	})
	if got := trapExit(t); got != 0 {
		t.Errorf("after cleanup the child's trap ran (exit %d): SIGHUP should be ignored again", got)
	}
}
