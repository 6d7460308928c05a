//go:build !linux

package keyringtest

import "os/exec"

// DenyKeyctlEnv, in a command's environment, asks [DenyKeyctl] to run it as
// a container does whose seccomp profile blocks the kernel keyring.
const DenyKeyctlEnv = "DT_KEYRINGTEST_DENY_KEYCTL=1"

// DenyKeyctl leaves cmd as it is: outside Linux there is no kernel keyring
// to refuse, so the command already runs as it would under the refusal.
func DenyKeyctl(cmd *exec.Cmd) error { return nil }

// ExecDenyingKeyctl does nothing outside Linux; see [DenyKeyctl].
func ExecDenyingKeyctl() {}
