//go:build unix

package plugin

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
)

// hostPoll is how often the plugin process checks that its host still runs.
// On Linux the parent-death signal tells it at once; the poll is the
// portable way, and cheap.
const hostPoll = time.Second

// guard readies the plugin process for what go-plugin leaves to it. Its
// socket goes in a directory of its own, mode 0700 whatever the umask, so
// no other user can connect. SIGTERM and SIGHUP remove that directory
// before the process dies of the signal (go-plugin removes the socket only
// when a host stops it). And when the host is gone, killed without a chance
// to stop its plugin, the plugin cleans up and exits instead of living on
// as an orphan. release undoes it all when Serve returns.
func guard(logger hclog.Logger) (release func(), err error) {
	host := os.Getppid()
	dir, err := privateSocketDir()
	if err != nil {
		return nil, err
	}
	cleanup := func() {
		if dir != "" {
			_ = os.RemoveAll(dir)
		}
	}
	// A host that died may leave the plugin logging into a pipe nobody
	// reads (go-plugin and gRPC log as connections break) before the watch
	// below cleans up; such a write must fail, not end the process with
	// SIGPIPE and leave its socket directory behind.
	signal.Ignore(syscall.SIGPIPE)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, append([]os.Signal{syscall.SIGTERM, syscall.SIGHUP}, parentDeathSignals()...)...)
	if err := setParentDeathSignal(); err != nil {
		logger.Debug("no parent-death signal; polling for the host instead", "error", err)
	}
	// The host may have died before the parent-death signal was set, which
	// then never comes.
	if os.Getppid() != host {
		signal.Stop(sigs)
		cleanup()
		return nil, fmt.Errorf("the host process that started the plugin exited before it was served")
	}
	done := make(chan struct{})
	tick := time.NewTicker(hostPoll)
	go func() {
		defer tick.Stop()
		w := hostWatch{host: host, getppid: os.Getppid, sigs: sigs, tick: tick.C, done: done}
		sig, ended := w.wait()
		if ended {
			return
		}
		cleanup()
		if sig == nil {
			// Nobody reads the plugin's logs any more: nothing to say.
			os.Exit(0)
		}
		die(sig)
	}()
	return func() {
		close(done)
		signal.Stop(sigs)
		cleanup()
	}, nil
}

// privateSocketDir makes a directory only this user can enter and points
// go-plugin at it for the socket, in the directory a host named
// (PLUGIN_UNIX_SOCKET_DIR) or else in the temporary directory. A host that
// asked for the socket to be group-writable (PLUGIN_UNIX_SOCKET_GROUP)
// manages its directory itself: then nothing is made, and dir is "".
func privateSocketDir() (dir string, err error) {
	if os.Getenv(goplugin.EnvUnixSocketGroup) != "" {
		return "", nil
	}
	// A short name: a socket's path is limited to about 100 bytes, and
	// macOS's temporary directory alone takes half of that.
	dir, err = os.MkdirTemp(os.Getenv(goplugin.EnvUnixSocketDir), "dt-plugin-")
	if err != nil {
		return "", fmt.Errorf("making the plugin's socket directory: %w", err)
	}
	// MkdirTemp asks for 0700 and a umask can only take bits away; this
	// directory is ours, made just now, so its mode is ours to set.
	if err := os.Chmod(dir, 0o700); err != nil {
		_ = os.Remove(dir)
		return "", fmt.Errorf("making the plugin's socket directory: %w", err)
	}
	if err := os.Setenv(goplugin.EnvUnixSocketDir, dir); err != nil {
		_ = os.Remove(dir)
		return "", fmt.Errorf("making the plugin's socket directory: %w", err)
	}
	return dir, nil
}

// hostWatch waits for a reason for the plugin process to end.
type hostWatch struct {
	host    int        // the parent's pid at start
	getppid func() int // os.Getppid, or a fake in tests
	sigs    <-chan os.Signal
	tick    <-chan time.Time
	done    <-chan struct{}
}

// wait returns the signal that ends the process (SIGTERM, SIGHUP), or nil
// when the host is gone: the process was handed to another parent. It
// returns ended when done is closed first.
func (w hostWatch) wait() (sig os.Signal, ended bool) {
	for {
		select {
		case <-w.done:
			return nil, true
		case s := <-w.sigs:
			if s == syscall.SIGTERM || s == syscall.SIGHUP {
				return s, false
			}
			// The parent-death signal. Linux also sends it when the host's
			// thread that started the plugin exits, with the host alive.
			if w.getppid() != w.host {
				return nil, false
			}
		case <-w.tick:
			if w.getppid() != w.host {
				return nil, false
			}
		}
	}
}

// die ends the process by sig, as it would have ended without a handler, so
// whoever waits for it sees why.
func die(sig os.Signal) {
	signal.Reset(sig)
	if s, ok := sig.(syscall.Signal); ok {
		_ = syscall.Kill(os.Getpid(), s)
		// Delivered to some thread of this process; give it a moment.
		time.Sleep(time.Second)
		os.Exit(128 + int(s))
	}
	os.Exit(1)
}
