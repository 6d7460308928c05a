package keyring

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// DefaultLockWait is how long [Lock] waits for a key's lock, when the
// caller gives no wait, before it judges the holder: longer than a normal
// token exchange, short enough that a stopped holder costs one slow
// invocation rather than a hung one. A holder that shows it is refreshing
// is waited for past it.
const DefaultLockWait = 10 * time.Second

// lockPoll is how often a busy lock is tried again. flock has no blocking
// call that honours a deadline, so waiting is polling; 5 ms keeps the added
// latency after a release well below that of a token exchange.
const lockPoll = 5 * time.Millisecond

// ErrLockTimeout is wrapped by [Lock] when the lock could not be had within
// the wait, from a holder that shows no sign of refreshing. Callers proceed
// without the lock: a refresh too many is better than a command that never
// returns.
var ErrLockTimeout = errors.New("timed out waiting for the cache lock")

// Lock takes the exclusive lock of key, the file <dir>/<key>.lock (dir is
// created 0700 when missing, but not its parents; the file 0600), waiting
// for it at least wait (zero or negative means [DefaultLockWait]) and, past
// that, for as long as its holder is a [Cache] refreshing that shows it is
// alive: such a holder touches the lock file every second (its heartbeat)
// and fails or succeeds for everyone, while one that is stopped (SIGSTOP,
// Ctrl-Z on the git that runs it) or holds the lock for anything else
// shows nothing. It returns an error wrapping [ErrLockTimeout] when the
// wait runs out with no such sign, and ctx's error when ctx ends first.
// unlock releases the lock; calling it more than once is harmless. A lock
// taken here marks the file as not refreshing (its modification time set
// to the Unix epoch): only a Cache's own lock has a heartbeat.
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
	path, unlock, err := lockKey(ctx, dir, key, wait)
	if err != nil {
		return nil, err
	}
	markIdle(path)
	return unlock, nil
}

// lockKey is [Lock] but for marking the lock file: the caller marks it
// idle, or starts a heartbeat at once (a [Cache]), so that no waiter sees
// an idle mark between the two. path is the lock file's.
func lockKey(ctx context.Context, dir, key string, wait time.Duration) (path string, unlock func(), err error) {
	if dir == "" {
		return "", nil, errors.New("no lock directory given")
	}
	path, err = lockPath(dir, key)
	if err != nil {
		return "", nil, err
	}
	if wait <= 0 {
		wait = DefaultLockWait
	}
	// A lock directory others could write to would let them hold our locks
	// or plant files under their names.
	if err := privatefile.EnsureDir(dir, false); err != nil {
		return "", nil, fmt.Errorf("locking %s: %w", path, err)
	}
	unlock, err = waitLock(ctx, path, wait)
	switch {
	case err == nil:
		// The lock file is deliberately left in place on unlock. Removing it
		// would race with waiters: one may have opened the old file and be
		// about to lock it while another creates a new file at the same path,
		// and then both "hold the lock" on different inodes. A lock file is
		// empty and one per account, so keeping it costs nothing.
		return path, unlock, nil
	case ctx.Err() != nil:
		return "", nil, fmt.Errorf("waiting for the cache lock %s: %w", path, ctx.Err())
	case errors.Is(err, context.DeadlineExceeded):
		return "", nil, fmt.Errorf("%w: %s still held by another process after %v, which shows no sign of refreshing", ErrLockTimeout, path, wait)
	default:
		return "", nil, fmt.Errorf("locking %s: %w", path, err)
	}
}

// waitLock takes the lock of the file at path, trying for at least wait,
// then on while its holder's heartbeat is fresh ([holderWatch]), until ctx
// ends. It looks at the file every lockWatch; its error is ctx's, or
// context.DeadlineExceeded when it gave up on the holder.
func waitLock(ctx context.Context, path string, wait time.Duration) (unlock func(), err error) {
	start := time.Now()
	w := holderWatch{path: path}
	for {
		slice := lockWatch
		if left := wait - time.Since(start); left > 0 {
			slice = min(slice, left)
		}
		sctx, cancel := context.WithTimeout(ctx, slice)
		unlock, err := privatefile.Lock(sctx, path, lockPoll)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return unlock, err
		}
		w.observe()
		if time.Since(start) >= wait && !w.alive() {
			return nil, context.DeadlineExceeded
		}
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
// lock directory, and keeps the lock file's heartbeat until unlock, so that
// other processes wait for this one while it is alive (see [Lock]). A file
// lock that cannot be had (a holder with no heartbeat past the lock wait,
// an unwritable directory) is logged and skipped: the worst outcome is a
// second refresh. Only the end of ctx is an error.
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
	s.log.DebugContext(ctx, "taking the cache lock", "dir", s.lockDir, "lock_wait", s.lockWait)
	path, unlockFile, err := lockKey(ctx, s.lockDir, s.key, s.lockWait)
	switch {
	case err == nil:
		stop := heartbeat(path)
		s.log.DebugContext(ctx, "cache lock taken", "waited", time.Since(start).Round(time.Millisecond))
		return func() { stop(); unlockFile(); release() }, nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		release()
		return nil, fmt.Errorf("no token within the deadline: another caller was still refreshing it: %w", err)
	case ctx.Err() != nil:
		release()
		return nil, err
	default:
		s.log.DebugContext(ctx, "proceeding without the cache lock", "error", err)
		return release, nil
	}
}
