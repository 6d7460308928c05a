//go:build !unix

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
)

// execAbout is what exec --help says about signals and the exit status.
const execAbout = `The command runs as a child of the helper, with its stdin, stdout and
stderr; Ctrl-C reaches it from the console, and the exit status is the
command's (127 when it cannot be found; no token is fetched then).`

// execCommand runs the command as a child process: Windows has no exec that
// keeps the process. The console sends Ctrl-C to every process attached to
// it, the command included, so the helper only ignores it and waits for the
// command to finish.
func execCommand(e env, path string, argv, envv []string) error {
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = envv
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
	signal.Ignore(os.Interrupt)
	defer signal.Reset(os.Interrupt)
	err := cmd.Run()
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &exitStatus{code: ee.ExitCode()}
	}
	return fmt.Errorf("exec: %s: %w", argv[0], err)
}

// lookPath finds file with exec.LookPath and its rules for Windows (PATHEXT,
// the current directory). It reads the process's own PATH, which outside
// in-process tests is the PATH exec was given.
func lookPath(file, _ string) (string, error) {
	return exec.LookPath(file)
}
