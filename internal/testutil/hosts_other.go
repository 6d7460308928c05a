//go:build !linux

package testutil

import (
	"errors"
	"os/exec"
	"testing"
)

// WithHosts makes cmd run with hosts as its /etc/hosts on Linux (a private
// mount namespace); elsewhere it returns why it cannot.
func WithHosts(tb testing.TB, cmd *exec.Cmd, hosts string) error {
	return errors.New("a private /etc/hosts needs a Linux mount namespace")
}
