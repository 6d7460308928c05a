package vaultproc

import (
	"context"
	"os/exec"
	"time"
)

// waitDelay bounds the wait for the child's output once ctx has ended it:
// a grandchild holding its stdout open must not hold the caller.
const waitDelay = time.Second

// commandContext is the child's command, killed when ctx ends.
func commandContext(ctx context.Context, prog string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, prog, Subcommand)
	cmd.WaitDelay = waitDelay
	return cmd
}
