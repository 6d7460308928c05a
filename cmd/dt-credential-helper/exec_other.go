//go:build !unix

package main

import (
	"os"
	"os/exec"
)

var forwardedSignals = []os.Signal{os.Interrupt}

// The console sends Ctrl-C to every attached process, the command included.
func fromTerminal(os.Signal) bool { return true }

func inForeground() bool { return true }

func exitCode(ee *exec.ExitError) int { return ee.ExitCode() }
