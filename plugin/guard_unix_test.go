//go:build unix

package plugin

import (
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestHostWatch drives the watch's decisions with a fake parent pid: the
// poll and the parent-death signal end the process only once the parent
// changed (the host is gone and the process was adopted), SIGTERM and SIGHUP
// always, and release stops the watch. The real processes are in the
// command's tests (TestPluginExitsWithItsHost and the socket tests).
func TestHostWatch(t *testing.T) {
	const host = 4242
	type step struct {
		ppid int       // the parent from now on
		sig  os.Signal // sent, if set
		tick bool      // a poll
		done bool      // release
	}
	tests := []struct {
		name      string
		steps     []step
		wantSig   os.Signal
		wantEnded bool
	}{
		{name: "poll, host gone", steps: []step{{ppid: host, tick: true}, {ppid: 1, tick: true}}},
		{name: "poll, adopted by a subreaper", steps: []step{{ppid: 777, tick: true}}},
		{name: "parent-death signal, host gone", steps: []step{{ppid: 1, sig: syscall.SIGUSR1}}},
		{name: "parent-death signal from a host thread, then gone", steps: []step{{ppid: host, sig: syscall.SIGUSR1}, {ppid: host, tick: true}, {ppid: 1, tick: true}}},
		{name: "SIGTERM", steps: []step{{ppid: host, tick: true}, {ppid: host, sig: syscall.SIGTERM}}, wantSig: syscall.SIGTERM},
		{name: "SIGHUP", steps: []step{{ppid: host, sig: syscall.SIGHUP}}, wantSig: syscall.SIGHUP},
		{name: "released", steps: []step{{ppid: host, tick: true}, {ppid: host, done: true}}, wantEnded: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ppid atomic.Int64
			asked := make(chan struct{})
			sigs := make(chan os.Signal)
			tick := make(chan time.Time)
			done := make(chan struct{})
			// The fake parent pid says when it was asked, so each step's
			// answer is read before the next step changes it.
			getppid := func() int {
				v := int(ppid.Load())
				asked <- struct{}{}
				return v
			}
			w := hostWatch{host: host, getppid: getppid, sigs: sigs, tick: tick, done: done}
			type result struct {
				sig   os.Signal
				ended bool
			}
			res := make(chan result, 1)
			go func() {
				sig, ended := w.wait()
				res <- result{sig, ended}
			}()
			for i, s := range tt.steps {
				ppid.Store(int64(s.ppid))
				var send func() bool
				switch {
				case s.sig != nil:
					send = func() bool {
						select {
						case sigs <- s.sig:
							return true
						case r := <-res:
							t.Fatalf("the watch ended before step %d: %v, %v", i+1, r.sig, r.ended)
						}
						return false
					}
				case s.tick:
					send = func() bool {
						select {
						case tick <- time.Now():
							return true
						case r := <-res:
							t.Fatalf("the watch ended before step %d: %v, %v", i+1, r.sig, r.ended)
						}
						return false
					}
				case s.done:
					send = func() bool { close(done); return false }
				}
				// A poll, or a signal other than SIGTERM and SIGHUP, makes
				// the watch ask for its parent.
				if send() && (s.tick || s.sig == syscall.SIGUSR1) {
					select {
					case <-asked:
					case <-time.After(10 * time.Second):
						t.Fatalf("step %d: the watch did not check its parent", i+1)
					}
				}
			}
			select {
			case r := <-res:
				if r.sig != tt.wantSig || r.ended != tt.wantEnded {
					t.Errorf("wait() = %v, %v; want %v, %v", r.sig, r.ended, tt.wantSig, tt.wantEnded)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the watch did not end after the last step")
			}
		})
	}
}
