//go:build unix

package plugin

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// envStderrGone makes TestMain run guardedStderrWriter instead of the tests.
const envStderrGone = "DT_PLUGIN_TEST_STDERR_GONE"

// testChild runs the child process a test started, if this is one.
func testChild() (code int, ok bool) {
	if mark := os.Getenv(envStderrGone); mark != "" {
		return guardedStderrWriter(mark), true
	}
	return 0, false
}

// guardedStderrWriter is the child of TestGuardSurvivesGoneStderr: under
// guard, it writes to a stderr nobody reads any more, then leaves a mark.
func guardedStderrWriter(mark string) int {
	release, err := guard(hclog.NewNullLogger())
	if err != nil {
		return 2
	}
	defer release()
	bufio.NewReader(os.Stdin).ReadString('\n') // the parent closed the reader
	for range 3 {
		fmt.Fprintln(os.Stderr, "a log line nobody reads")
	}
	if err := os.WriteFile(mark, nil, 0o600); err != nil {
		return 3
	}
	return 0
}

// TestGuardSurvivesGoneStderr: a plugin whose host died mid-call may still
// log (go-plugin and gRPC do, as connections break) before its host watch
// cleans up. Its stderr is a pipe to the dead host: a write there must fail,
// not end the process with SIGPIPE before it removed its socket directory
// (TestPluginExitsWithItsHost saw the directory left behind once).
func TestGuardSurvivesGoneStderr(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	mark := filepath.Join(t.TempDir(), "survived")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run", "^$")
	cmd.Env = append(os.Environ(), envStderrGone+"="+mark, "TMPDIR="+t.TempDir())
	cmd.Stderr = w
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r.Close() // nobody reads the child's stderr from here on
	fmt.Fprintln(in, "go")
	in.Close()
	err = cmd.Wait()
	if _, statErr := os.Stat(mark); err != nil || statErr != nil {
		t.Fatalf("the guarded process did not survive writing to a gone stderr: %v (%v)", err, cmd.ProcessState)
	}
}
