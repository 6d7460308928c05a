package keyring

import (
	"os"
	"sync"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// The heartbeat: a [Cache] that holds a key's lock touches the lock file
// (its modification time) every lockBeat for as long as it holds it, from a
// goroutine that lives only that long: the slow path, never a cached call.
// A process waiting for the lock that sees the touches knows the refresh is
// still being made, by a process that will fail or succeed for everyone,
// and waits for it up to its own deadline, rather than give up on the lock
// after its lock wait and make an attempt of its own (against a hung
// endpoint, one per process, none of them held off by a back-off that is
// not recorded yet). A holder that is stopped (SIGSTOP, or Ctrl-Z on the
// git that runs it) stops touching it, and its waiters go on without the
// lock once they have waited their lock wait and lockStale has passed
// without a touch. A dead holder's lock is released by the kernel at once.
//
// A waiter judges the touches by its own monotonic clock (a touch is a
// change of the modification time, whatever the clock says), so clock steps
// cannot make a live holder look stopped for long. Only for the time before
// it began to look does it believe the file's time against the wall clock,
// and then only within lockStale either way.

const (
	// lockBeat is how often a refreshing holder touches its lock file.
	lockBeat = time.Second
	// lockStale is how long without a touch a waiter takes the holder as
	// stopped: several beats, since a loaded machine may delay one, and a
	// file system with one- or two-second times may not show every one.
	lockStale = 5 * lockBeat
	// lockWatch is how often a waiter looks at the lock file.
	lockWatch = 250 * time.Millisecond
)

// idleMark is the modification time of a lock file whose holder is not
// refreshing (see [Lock]); any time before idleBefore reads as one (a file
// system may not keep 1970, FAT's times start in 1980), and none is a
// heartbeat.
var idleMark, idleBefore = time.Unix(0, 0), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// markIdle marks the lock file at path, just locked, as not refreshing.
// Failing to costs at most lockStale of a waiter's time.
func markIdle(path string) { _ = privatefile.SetModTime(path, idleMark) }

// heartbeat touches the lock file at path, which the caller holds, now and
// every lockBeat until stop, which returns once the touching has ended.
// A touch that fails costs at most a waiter going on without the lock.
func heartbeat(path string) (stop func()) {
	_ = privatefile.SetModTime(path, time.Now())
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(lockBeat)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = privatefile.SetModTime(path, time.Now())
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

// holderWatch follows the heartbeat of a held lock file, for a waiter.
type holderWatch struct {
	path string
	// seen says the file has been looked at; mtime is its time then.
	seen  bool
	mtime time.Time
	// beat is when, on this process's monotonic clock, the holder last
	// showed it is alive; zero for never.
	beat time.Time
}

// observe looks at the lock file once.
func (w *holderWatch) observe() {
	fi, err := os.Lstat(w.path)
	if err != nil {
		return
	}
	now, m := time.Now(), fi.ModTime()
	switch {
	case m.Before(idleBefore):
		// The holder says it is not refreshing.
		w.beat = time.Time{}
	case !w.seen:
		// A touch before we looked: only the wall clock can say when, and
		// it is believed only within lockStale either way (a clock stepped
		// since says nothing).
		if age := now.Sub(m); age.Abs() <= lockStale {
			w.beat = now.Add(-max(age, 0))
		}
	case !m.Equal(w.mtime):
		w.beat = now
	}
	w.seen, w.mtime = true, m
}

// alive reports whether the holder touched the file less than lockStale
// ago, as far as the looks so far tell.
func (w *holderWatch) alive() bool {
	return !w.beat.IsZero() && time.Since(w.beat) < lockStale
}
