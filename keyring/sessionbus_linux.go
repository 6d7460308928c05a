//go:build linux

package keyring

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// The session bus, and the rule every connection to it follows: the program
// talks only to a bus of its own user. The address in
// DBUS_SESSION_BUS_ADDRESS outlives the bus it names (a tmux or ssh shell
// keeps it after dbus-run-session has exited), and a path in /tmp or an
// abstract name is free for any user to listen on: whoever does, with a
// dbus-daemon and a gnome-keyring of their own, would be handed the DT
// secret and every cached token. So, before a byte is sent:
//
//   - only Unix sockets are used (unix:path= and unix:abstract=): their peer
//     can be asked for its uid; tcp:, nonce-tcp:, unixexec:, launchd:,
//     autolaunch: and the rest are refused;
//   - a path socket must be a socket (not a symlink) owned by the effective
//     uid, found through directories owned by that uid or root that nobody
//     else can write unless they are sticky (/tmp), the rule of
//     privatefile.CheckLookup: checked before dialling, so that another
//     user's socket is not even connected to;
//   - on the connected socket, SO_PEERCRED must give the effective uid: the
//     check that decides, for abstract sockets the only one, and for path
//     sockets the one that holds if the path changed hands after the lstat.
//
// A bus refused so counts as none (ErrNoSession): it holds nothing of ours,
// and the auto store moves on to files at once.

// errNoBus says why there is no keyring without trying to start a bus: godbus
// would run dbus-launch, leaving a stray daemon behind on a headless machine.
var errNoBus = fmt.Errorf("%w (DBUS_SESSION_BUS_ADDRESS is not set)", ErrNoSession)

// osKeyring is where the Secret Service is reached: the session bus's
// sockets that passed the checks made before connecting, in the order the
// address gives them.
type osKeyring struct {
	sockets []string // "unix" network addresses: a path, or "@name" for an abstract socket
	euid    int
}

// locateKeyring finds the session bus and checks its address without
// connecting: fast and without a timer, so that a process with no bus of
// its own (a kernel keyring miss on a headless machine) arms none.
func locateKeyring() (osKeyring, error) {
	addr := sessionBusAddress(os.Getenv, os.Getuid)
	if addr == "" {
		return osKeyring{}, errNoBus
	}
	euid := os.Geteuid()
	sockets, err := busSockets(addr, euid)
	return osKeyring{sockets: sockets, euid: euid}, err
}

// busSockets returns the sockets of a D-Bus address (entries separated by
// ";") that may be connected to, or an error wrapping ErrNoSession that
// says why each was refused; it matches ErrForeignBus too when one was
// refused for whose it is.
func busSockets(addr string, euid int) ([]string, error) {
	var sockets, refused []string
	foreign := false
	for _, a := range strings.Split(addr, ";") {
		if a == "" {
			continue
		}
		sockaddr, err := unixSocket(a)
		if err == nil && !strings.HasPrefix(sockaddr, "@") {
			err = checkSocketPath(sockaddr, euid)
		}
		if err != nil {
			foreign = foreign || errors.Is(err, ErrForeignBus)
			refused = append(refused, err.Error())
			continue
		}
		sockets = append(sockets, sockaddr)
	}
	if len(sockets) == 0 {
		if len(refused) == 0 {
			refused = append(refused, "DBUS_SESSION_BUS_ADDRESS names no bus")
		}
		err := fmt.Errorf("%w we can use: %s", ErrNoSession, strings.Join(refused, "; "))
		if foreign {
			return nil, foreignBus{err}
		}
		return nil, err
	}
	return sockets, nil
}

// unixSocket returns the socket of a "unix:path=..." or "unix:abstract=..."
// D-Bus address, as a "unix" network address ("@name" for an abstract
// one). Any other address is an error saying why it is not used.
func unixSocket(addr string) (string, error) {
	transport, rest, _ := strings.Cut(addr, ":")
	if transport != "unix" {
		return "", fmt.Errorf("the address %q uses the %s transport, whose peer cannot be checked (only unix:path= and unix:abstract= are used)", addr, transport)
	}
	for _, kv := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(kv, "=")
		if k != "path" && k != "abstract" {
			continue
		}
		v, err := dbus.UnescapeBusAddressValue(v)
		if err != nil || v == "" {
			return "", fmt.Errorf("the address %q is malformed", addr)
		}
		if k == "abstract" {
			v = "@" + v
		}
		return v, nil
	}
	return "", fmt.Errorf("the address %q names no socket to connect to", addr)
}

// checkSocketPath checks, without following a symlink, that path is a
// socket of euid's found through directories only euid or root controls;
// a socket that is another user's, or that another user could swap, is
// refused as ErrForeignBus.
func checkSocketPath(path string, euid int) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s does not exist", path)
	case err != nil:
		return fmt.Errorf("the socket cannot be checked: %w", err)
	case fi.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("%s is not a socket (%v)", path, fi.Mode().Type())
	}
	if uid := privatefile.Owner(fi); uid != euid {
		return foreignBus{fmt.Errorf("the socket %s belongs to uid %d, not to us (uid %d)", path, uid, euid)}
	}
	if err := privatefile.CheckLookup(filepath.Dir(path), path); err != nil {
		return foreignBus{fmt.Errorf("the socket could be swapped: %w", err)}
	}
	return nil
}

// sessionBusAddress finds the session bus as godbus does, minus autolaunch:
// DBUS_SESSION_BUS_ADDRESS, else the systemd user bus socket. getuid is
// called only when neither the variable nor XDG_RUNTIME_DIR names the bus,
// which keeps a system call off the usual path.
func sessionBusAddress(getenv func(string) string, getuid func() int) string {
	if a := getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
		return a
	}
	if a := busSocket(getenv("XDG_RUNTIME_DIR")); a != "" {
		return a
	}
	return busSocket("/run/user/" + strconv.Itoa(getuid()))
}

// busSocket is the address of dir's "bus" socket, or "" if there is none.
func busSocket(dir string) string {
	if dir == "" {
		return ""
	}
	p := filepath.Join(dir, "bus")
	if fi, err := os.Stat(p); err == nil && fi.Mode().Type() == os.ModeSocket {
		return "unix:path=" + dbus.EscapeBusAddressValue(p)
	}
	return ""
}

// connectBus connects to the first of k's sockets that answers and is
// served by k's uid, authenticates and says Hello, with godbus's own
// handshake. It dials itself so the socket carries the deadline: then even
// a bus that accepts and never answers cannot hold the read past it, and no
// goroutine is left behind; and it reads the socket through a buffer (see
// bufferedConn). The Unix-fd negotiation, which the Secret Service calls do
// not need, is skipped. The errors wrap ErrUnreachable; when every socket
// was refused for its peer, ErrNoSession.
func connectBus(k osKeyring, deadline time.Time) (*dbus.Conn, error) {
	var refused []string
	var lastErr error
	for _, sockaddr := range k.sockets {
		nc, err := dialPeer(sockaddr, k.euid, deadline)
		var perr *peerError
		if errors.As(err, &perr) {
			refused = append(refused, perr.Error())
			continue
		}
		if err != nil {
			lastErr = err
			continue
		}
		c, err := dbus.NewConn(newBufferedConn(nc))
		if err == nil {
			err = c.Auth(nil)
		}
		if err == nil {
			err = c.Hello()
		}
		if err != nil {
			nc.Close()
			return nil, unavailable("connecting to the D-Bus session bus", err)
		}
		return c, nil
	}
	if lastErr != nil {
		if len(refused) > 0 {
			lastErr = fmt.Errorf("%w; and %s", lastErr, strings.Join(refused, "; "))
		}
		return nil, unavailable("connecting to the D-Bus session bus", lastErr)
	}
	// Every socket that answered is served by another uid.
	return nil, foreignBus{fmt.Errorf("%w we can use: %s", ErrNoSession, strings.Join(refused, "; "))}
}

// peerError is a socket served by another uid.
type peerError struct {
	sockaddr  string
	uid, euid int
}

func (e *peerError) Error() string {
	return fmt.Sprintf("the one at %s is served by uid %d, not by us (uid %d)", e.sockaddr, e.uid, e.euid)
}

// dialPeer connects to the Unix socket sockaddr and returns the connection,
// with deadline set, if the process serving it runs as euid; a *peerError
// if not. Nothing is written to the socket.
func dialPeer(sockaddr string, euid int, deadline time.Time) (net.Conn, error) {
	d := net.Dialer{Deadline: deadline}
	nc, err := d.Dial("unix", sockaddr)
	if err != nil {
		return nil, err
	}
	uid, err := privatefile.PeerUID(nc.(*net.UnixConn))
	switch {
	case err != nil:
		err = fmt.Errorf("asking who serves the session bus: %w", err)
	case uid != euid:
		err = &peerError{sockaddr: sockaddr, uid: uid, euid: euid}
	}
	if err == nil {
		err = nc.SetDeadline(deadline)
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	return nc, nil
}

// bufferedConn reads a connection through a buffer. godbus decodes a message
// field by field, and on a bare socket each field is a read(2): about 200 of
// them for one secret read, against a handful through the buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func newBufferedConn(nc net.Conn) *bufferedConn {
	return &bufferedConn{Conn: nc, r: bufio.NewReader(nc)}
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }
