package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/term"
)

// waitNoticeAfter is how long a token request goes without an answer
// before waiting says what it waits for.
const waitNoticeAfter = 2 * time.Second

// waiting is tokens.Config.Waiting and vaultproc.Config.Waiting: when a
// token request (or a Vault read) has had no answer for waitNoticeAfter,
// it says on a terminal what it waits for, so that an endpoint that
// accepts and never answers is not --timeout of silence. It is called on a
// miss only, so a cached call arms no timer and asks nothing of the
// terminal. Where the process's stderr is not a terminal (git, kubectl,
// scripts and CI keep it as a log, or drop it) it says nothing; the error
// at the end names --timeout either way (tokenFlags.explain). It writes to
// the process's own stderr, the terminal whose user is waiting.
func waiting(ctx context.Context, what string) (done func()) {
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return func() {}
	}
	t := time.AfterFunc(waitNoticeAfter, func() {
		left := ""
		if d, ok := ctx.Deadline(); ok {
			left = fmt.Sprintf(" in %v", time.Until(d).Round(time.Second))
		}
		fmt.Fprintf(os.Stderr, "%s: waiting for %s to answer; giving up%s (--timeout)\n", prog, what, left)
	})
	return func() { t.Stop() }
}

// explain names --timeout in err when a deadline ended it: the one thing
// the user can change about an endpoint that is slow or never answers.
func (f *tokenFlags) explain(err error) error {
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w (gave up after --timeout %v; a slow endpoint may need a longer one)", err, f.Timeout)
}
