package keyring

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// DefaultLockWait is how long [Lock] waits for a key's lock when the caller
// gives no bound: longer than a normal token exchange, short enough that a
// stuck holder costs one slow invocation rather than a hung one.
const DefaultLockWait = 10 * time.Second

// lockPoll is how often a busy lock is tried again. flock has no blocking
// call that honours a deadline, so waiting is polling; 5 ms keeps the added
// latency after a release well below that of a token exchange.
const lockPoll = 5 * time.Millisecond

// ErrLockTimeout is wrapped by [Lock] when the lock could not be had within
// the wait. Callers proceed without the lock: a refresh too many is better
// than a command that never returns.
var ErrLockTimeout = errors.New("timed out waiting for the cache lock")

// Lock takes the exclusive lock of key, the file <dir>/<key>.lock (dir is
// created 0700 when missing, but not its parents; the file 0600), waiting at most wait (zero or
// negative means [DefaultLockWait]). It returns an error wrapping
// [ErrLockTimeout] when the wait runs out, and ctx's error when ctx ends
// first. unlock releases the lock; calling it more than once is harmless.
//
// The directory must be a private directory of ours, and the lock file a
// regular file of ours that others cannot write; a symlink planted under the
// lock's name is not followed (its target is never created) and a FIFO there
// does not block: those are refused with a [*PermissionError], and callers
// go on without the lock.
//
// The lock is an flock(2) (LockFileEx on Windows) lock, which the kernel
// releases when its holder exits, however it exits: a killed process never
// leaves a stale lock behind.
func Lock(ctx context.Context, dir, key string, wait time.Duration) (unlock func(), err error) {
	if dir == "" {
		return nil, errors.New("no lock directory given")
	}
	path, err := lockPath(dir, key)
	if err != nil {
		return nil, err
	}
	if wait <= 0 {
		wait = DefaultLockWait
	}
	// A lock directory others could write to would let them hold our locks
	// or plant files under their names.
	if err := privatefile.EnsureDir(dir, false); err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	unlock, err = privatefile.Lock(wctx, path, lockPoll)
	switch {
	case err == nil:
		// The lock file is deliberately left in place on unlock. Removing it
		// would race with waiters: one may have opened the old file and be
		// about to lock it while another creates a new file at the same path,
		// and then both "hold the lock" on different inodes. A lock file is
		// empty and one per account, so keeping it costs nothing.
		return unlock, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("waiting for the cache lock %s: %w", path, ctx.Err())
	case errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("%w: %s still held by another process after %v", ErrLockTimeout, path, wait)
	default:
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
}

// lockPath names key's lock file; keys are checked as the file store checks
// them, so no key can point the lock outside dir.
func lockPath(dir, key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	return filepath.Join(dir, key+".lock"), nil
}

// lock takes the in-process lock, then the key's file lock if there is a
// lock directory. A file lock that cannot be had (timeout, unwritable
// directory) is logged and skipped: the worst outcome is a second refresh.
// Only the end of ctx is an error.
func (s *Cache) lock(ctx context.Context) (unlock func(), err error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for another refresh of the cached token: %w", ctx.Err())
	}
	release := func() { <-s.sem }
	if s.lockDir == "" {
		return release, nil
	}

	start := time.Now()
	s.log.DebugContext(ctx, "taking the cache lock", "dir", s.lockDir, "max_wait", s.lockWait)
	unlockFile, err := Lock(ctx, s.lockDir, s.key, s.lockWait)
	switch {
	case err == nil:
		s.log.DebugContext(ctx, "cache lock taken", "waited", time.Since(start).Round(time.Millisecond))
		return func() { unlockFile(); release() }, nil
	case ctx.Err() != nil:
		release()
		return nil, err
	default:
		s.log.DebugContext(ctx, "proceeding without the cache lock", "error", err)
		return release, nil
	}
}
