package privatefile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"time"

	"github.com/gofrs/flock"
)

// Lock takes the exclusive lock of the file at path (created 0600 when
// missing), trying again every poll until it has it or ctx ends; then it
// returns ctx's error. unlock releases it; calling it more than once is
// harmless. The directory is not checked here: callers check it first
// ([EnsureDir]).
//
// The open does not follow a final symlink, so a link planted under the
// name cannot make this process create or truncate its target, and does
// not block, so a FIFO planted there cannot hang it. What was opened is
// checked on the open descriptor with [CheckOwned] before the lock is
// trusted: a lock that others can write, or a file that is not a regular
// file of ours, is refused with a [*PermissionError].
//
// The lock is an flock(2) (LockFileEx on Windows) lock, which the kernel
// releases when its holder exits, however it exits.
func Lock(ctx context.Context, path string, poll time.Duration) (unlock func(), err error) {
	fl := flock.New(path, flock.SetFlag(lockFlags()), flock.SetPermissions(0o600))
	ok, err := fl.TryLockContext(ctx, poll)
	switch {
	case errors.Is(err, syscall.ELOOP):
		return nil, &PermissionError{Path: path, Mode: fs.ModeSymlink, Why: "a symbolic link, which is not followed: remove it"}
	case err != nil:
		return nil, err
	case !ok:
		return nil, ctx.Err()
	}
	// Stat is fstat on the descriptor while the lock is held.
	fi, err := fl.Stat()
	if err == nil {
		err = CheckOwned(path, fi.Mode(), owner(fi))
	}
	if err != nil {
		_ = fl.Unlock()
		return nil, fmt.Errorf("lock file: %w", err)
	}
	return func() { _ = fl.Unlock() }, nil
}

// LockWithin is [Lock] for an edit of a file of the user's (the profiles
// file, docker's configuration) that other runs may be making: it waits
// at most wait, or until ctx ends, polling every 5 ms, and a lock another
// process still holds then is an error that says so, naming how long it
// waited. A read, a change and a small write take milliseconds, so a wait
// of seconds means a holder that is stuck.
func LockWithin(ctx context.Context, path string, wait time.Duration) (unlock func(), err error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	unlock, err = Lock(ctx, path, 5*time.Millisecond)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("still locked by another process after %v (%s)", wait, path)
	}
	return unlock, err
}
