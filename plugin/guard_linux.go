package plugin

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// parentDeathSignals are those the kernel sends when the host dies. Not
// SIGTERM: Linux sends the parent-death signal when the host's thread that
// started the plugin exits, too, and a host that is still alive must not
// lose its plugin; the watch checks the parent before acting on it.
func parentDeathSignals() []os.Signal { return []os.Signal{syscall.SIGUSR1} }

// setParentDeathSignal asks the kernel to send SIGUSR1 when the parent dies.
func setParentDeathSignal() error {
	return unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGUSR1), 0, 0, 0)
}
