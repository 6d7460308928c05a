package testutil

import (
	"os"
	"os/signal"
	"testing"
)

// DefaultSignalsForChildren makes sigs start out with their default action
// in the processes this test process starts, until tb ends.
//
// A test that signals a child and expects the default action, or a shell
// trap, depends on the disposition the child inherits. Under nohup the test
// process starts with SIGHUP ignored, and as a background job of a
// non-interactive shell with SIGINT ignored; Go keeps both ignored and
// os/exec passes an ignored signal on as ignored, where a shell cannot even
// trap it. A handled signal, though, is reset to its default by execve, and
// signal.Notify installs a handler even for a signal ignored at start-up.
// signal.Stop at cleanup puts the inherited disposition back.
//
// It changes the whole process: no parallel test may depend on sigs being
// ignored meanwhile, and a signal sent to the test process itself is
// swallowed until tb ends.
func DefaultSignalsForChildren(tb testing.TB, sigs ...os.Signal) {
	tb.Helper()
	c := make(chan os.Signal, 1)
	signal.Notify(c, sigs...)
	tb.Cleanup(func() { signal.Stop(c) })
}
