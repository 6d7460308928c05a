//go:build linux

package keyring

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

// The Secret Service API, as go-keyring v0.2.8 uses it
// (github.com/zalando/go-keyring/secret_service): items carry the attributes
// "service" and "username" and live in the "login" collection, or in the
// collection the "default" alias names when there is no "login".
const (
	ssName            = "org.freedesktop.secrets"
	ssPath            = "/org/freedesktop/secrets"
	ssService         = "org.freedesktop.Secret.Service"
	ssCollection      = "org.freedesktop.Secret.Collection"
	ssLoginCollection = "/org/freedesktop/secrets/collection/login"
	ssDefaultAlias    = "/org/freedesktop/secrets/aliases/default"
)

// ssSecret is the Secret Service's Secret struct, (oayays).
type ssSecret struct {
	Session     dbus.ObjectPath
	Parameters  []byte
	Value       []byte
	ContentType string
}

// get reads key's entry straight from the Secret Service, in three round
// trips where go-keyring needs about ten: one private connection whose
// authentication, Hello and SearchItems go out in one write (see
// pipelinedAuth), then OpenSession, then GetSecrets. No introspection, no
// properties. The connection is read through a buffer (see bufferedConn), so
// the whole read costs a handful of read(2) calls, not one per message
// field. The session is not closed explicitly; the service drops a client's
// sessions when its connection goes.
//
// OpenSession is never among a connection's first messages to the service:
// gnome-keyring (42) registers a new client from an idle callback, and an
// OpenSession it handles before that makes it abort (GLib-ERROR
// "g_variant_new: expected GVariant of type 'v'"), seen here when
// OpenSession was pipelined with SearchItems. A reply to SearchItems proves
// the client is registered.
//
// It never unlocks or prompts: an entry that exists only in a locked
// collection is ErrUnavailable, so the auto mode moves to files at once.
func (s *KeyringStore) get(key string) ([]byte, error) {
	addr := sessionBusAddress(os.Getenv, os.Getuid)
	if addr == "" {
		return nil, errNoBus
	}
	deadline := time.Now().Add(s.timeout)
	data, err := getSecret(addr, key, deadline, true)
	if errors.Is(err, errRetry) {
		// Ask again the standard way, one step at a time: a bus that does
		// not take pipelined authentication, or gnome-keyring answering
		// UnknownMethod to a SearchItems that beat its client registration
		// (the same race as above; about once in a thousand cold reads).
		data, err = getSecret(addr, key, deadline, false)
	}
	return data, err
}

func getSecret(addr, key string, deadline time.Time, pipelined bool) ([]byte, error) {
	conn, pa, err := connectBus(addr, deadline, pipelined)
	if err != nil {
		return nil, fmt.Errorf("%w: connecting to the D-Bus session bus: %w", ErrUnavailable, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	// The bus handles a connection's messages in order, so SearchItems can
	// follow Hello without waiting for its reply; on a pipelined connection
	// both are held back and go out with the handshake in one write.
	var hello *dbus.Call
	if pa != nil {
		hello = conn.BusObject().GoWithContext(ctx, "org.freedesktop.DBus.Hello", 0, make(chan *dbus.Call, 1))
	}
	svc := conn.Object(ssName, ssPath)
	search := svc.GoWithContext(ctx, ssService+".SearchItems", 0, make(chan *dbus.Call, 1),
		map[string]string{"username": key, "service": Service})
	if pa != nil {
		if err := pa.flush(); err != nil {
			return nil, unavailable(false, "connecting to the D-Bus session bus", err)
		}
	}
	if hello != nil {
		if err := (<-hello.Done).Err; err != nil {
			return nil, unavailable(pipelined, "connecting to the D-Bus session bus", err)
		}
	}
	var unlocked, locked []dbus.ObjectPath
	if err := (<-search.Done).Store(&unlocked, &locked); err != nil {
		return nil, unavailable(pipelined, "searching the Secret Service", err)
	}
	if len(unlocked) == 0 {
		if len(locked) > 0 {
			return nil, fmt.Errorf("%w: the entry is in a locked keyring collection", ErrUnavailable)
		}
		return nil, missing(ctx, conn)
	}

	var ignored dbus.Variant
	var session dbus.ObjectPath
	err = svc.CallWithContext(ctx, ssService+".OpenSession", 0, "plain", dbus.MakeVariant("")).Store(&ignored, &session)
	if err != nil {
		return nil, unavailable(false, "opening a Secret Service session", err)
	}
	var secrets map[dbus.ObjectPath]ssSecret
	err = svc.CallWithContext(ctx, ssService+".GetSecrets", 0, unlocked[:1], session).Store(&secrets)
	if err != nil {
		return nil, unavailable(false, "reading the secret", err)
	}
	sec, ok := secrets[unlocked[0]]
	if !ok {
		// GetSecrets leaves out items that were locked in the meantime.
		return nil, fmt.Errorf("%w: the entry is locked", ErrUnavailable)
	}
	return sec.Value, nil
}

// missing explains a search that found nothing. Only here, off the hot path
// (a refresh over the network follows anyway), is the collection go-keyring
// writes to checked: if it is locked or does not exist, the write would wait
// for a prompt until it times out, so the keyring is reported unavailable now
// and the auto mode writes a file instead.
func missing(ctx context.Context, conn *dbus.Conn) error {
	for _, path := range []dbus.ObjectPath{ssLoginCollection, ssDefaultAlias} {
		var v dbus.Variant
		err := conn.Object(ssName, path).CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, ssCollection, "Locked").Store(&v)
		if err != nil {
			// An error reply means no such collection (the name varies
			// between services); anything else is the bus failing.
			var derr dbus.Error
			if errors.As(err, &derr) {
				continue
			}
			return unavailable(false, "checking the keyring collection", err)
		}
		if locked, _ := v.Value().(bool); locked {
			return fmt.Errorf("%w: the keyring collection is locked", ErrUnavailable)
		}
		return fmt.Errorf("keyring read: %w", ErrNotFound)
	}
	return fmt.Errorf("%w: no login or default keyring collection to write to", ErrUnavailable)
}

// errNoBus says why there is no keyring without trying to start a bus: godbus
// would run dbus-launch, leaving a stray daemon behind on a headless machine.
var errNoBus = fmt.Errorf("%w: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)", ErrUnavailable)

// canReachKeyring fails fast, before go-keyring is asked to write, when
// there is no session bus at all; go-keyring would try dbus-launch.
func canReachKeyring() error {
	if sessionBusAddress(os.Getenv, os.Getuid) == "" {
		return errNoBus
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

// connectBus connects to the bus at addr and authenticates. For Unix sockets
// (the usual case) it dials itself so the socket carries the deadline: then
// even a bus that accepts and never answers cannot hold the read past it,
// and no goroutine is left behind; and it reads the socket through a buffer
// (see bufferedConn). There, with pipelined set, the EXTERNAL handshake is
// not waited for (see pipelinedAuth), and pa is returned: the caller must
// send Hello itself, ahead of its calls, then call pa.flush to send
// everything in one write. The Unix-fd negotiation, which a secret read does
// not need, is skipped.
func connectBus(addr string, deadline time.Time, pipelined bool) (conn *dbus.Conn, pa *pipelinedAuth, err error) {
	var lastErr error
	for _, a := range strings.Split(addr, ";") {
		network, sockaddr, ok := unixSocket(a)
		if !ok {
			if a == "" {
				continue
			}
			// Anything else (tcp, launchd, ...) through godbus; the caller's
			// time bound still holds.
			c, err := dbus.Connect(a)
			if err != nil {
				lastErr = err
				continue
			}
			return c, nil, nil
		}
		d := net.Dialer{Deadline: deadline}
		nc, err := d.Dial(network, sockaddr)
		if err != nil {
			lastErr = err
			continue
		}
		if err := nc.SetDeadline(deadline); err != nil {
			nc.Close()
			return nil, nil, err
		}
		if !pipelined {
			c, err := dbus.NewConn(newBufferedConn(nc))
			if err == nil {
				err = c.Auth(nil)
			}
			if err == nil {
				err = c.Hello()
			}
			if err != nil {
				nc.Close()
				return nil, nil, err
			}
			return c, nil, nil
		}
		c, pa, err := newPipelinedConn(nc, strconv.Itoa(os.Geteuid()))
		if err != nil {
			nc.Close()
			return nil, nil, err
		}
		return c, pa, nil
	}
	if lastErr == nil {
		lastErr = errors.New("no usable address in DBUS_SESSION_BUS_ADDRESS")
	}
	return nil, nil, lastErr
}

// bufferedConn reads a connection through a buffer. godbus decodes a message
// field by field, and on a bare socket each field is a read(2): about 200 of
// them for one secret read, against a handful through the buffer. Everything
// that reads the connection (the pipelined handshake check and godbus) must
// go through the same bufferedConn, or bytes the buffer took are lost.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func newBufferedConn(nc net.Conn) *bufferedConn {
	return &bufferedConn{Conn: nc, r: bufio.NewReader(nc)}
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// newPipelinedConn authenticates a godbus connection on nc as the user uid
// (decimal) without waiting for the bus; see pipelinedAuth.
func newPipelinedConn(nc net.Conn, uid string) (*dbus.Conn, *pipelinedAuth, error) {
	pa := newPipelinedAuth(newBufferedConn(nc), uid)
	c, err := dbus.NewConn(pa)
	if err == nil {
		err = c.Auth([]dbus.Auth{dbus.AuthExternal(uid)})
	}
	if err != nil {
		return nil, nil, err
	}
	return c, pa, nil
}

// errAuthRefused is the bus turning down the pipelined handshake.
var errAuthRefused = errors.New("the bus refused EXTERNAL authentication")

// pipelinedAuth lets godbus authenticate without waiting on the bus, as
// sd-bus does: the whole client side of the EXTERNAL handshake ("\0AUTH
// EXTERNAL <uid>", "BEGIN") is queued on connection, and godbus's own
// conversation is answered locally. The first messages after it are queued
// too, and flush sends the lot in one write. The bus's real answer ("OK
// <guid>") is read and checked in front of the first message; a refusal
// fails every pending call with errAuthRefused, and get starts over step by
// step. This saves three round trips (AUTH, AUTH EXTERNAL, Hello) of a cold
// read.
type pipelinedAuth struct {
	*bufferedConn
	authDone bool   // godbus sent BEGIN: messages follow
	canned   []byte // local answers to godbus's handshake, still to be read
	okRead   bool   // the bus's answer was consumed and was OK

	mu      sync.Mutex // guards out and flushed against godbus's goroutines
	out     []byte     // what waits for flush
	flushed bool       // flush was called: pass writes through
}

func newPipelinedAuth(bc *bufferedConn, uid string) *pipelinedAuth {
	return &pipelinedAuth{
		bufferedConn: bc,
		out:          []byte("\x00AUTH EXTERNAL " + hex.EncodeToString([]byte(uid)) + "\r\nBEGIN\r\n"),
	}
}

// Write swallows godbus's handshake lines, queueing the local answers, and
// queues everything after BEGIN until flush, then passes it through.
func (p *pipelinedAuth) Write(b []byte) (int, error) {
	if p.authDone {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.flushed {
			return p.Conn.Write(b)
		}
		p.out = append(p.out, b...)
		return len(b), nil
	}
	switch line := string(b); {
	case line == "\x00":
	case line == "AUTH\r\n":
		p.canned = append(p.canned, "REJECTED EXTERNAL\r\n"...)
	case strings.HasPrefix(line, "AUTH EXTERNAL"):
		p.canned = append(p.canned, "OK 00000000000000000000000000000000\r\n"...)
	case line == "BEGIN\r\n":
		p.authDone = true
	default:
		return 0, fmt.Errorf("unexpected authentication step %q", strings.TrimSpace(line))
	}
	return len(b), nil
}

// flush sends the handshake and the messages queued behind it in one write.
// Nothing reaches the bus before it, so the caller must flush once it has
// queued its first calls, before it waits for their replies.
func (p *pipelinedAuth) flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.flushed {
		return nil
	}
	p.flushed = true
	_, err := p.Conn.Write(p.out)
	p.out = nil
	return err
}

// Read hands godbus the local answers, then checks the bus's real answer
// once before passing messages through.
func (p *pipelinedAuth) Read(b []byte) (int, error) {
	if len(p.canned) > 0 {
		n := copy(b, p.canned)
		p.canned = p.canned[n:]
		return n, nil
	}
	if !p.authDone {
		return 0, errors.New("authentication read out of turn")
	}
	if !p.okRead {
		// From the shared buffer: the messages behind the line stay there
		// for godbus.
		line, err := p.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return 0, errAuthRefused
		}
		if err != nil {
			return 0, err
		}
		if !bytes.HasPrefix(line, []byte("OK ")) {
			return 0, errAuthRefused
		}
		p.okRead = true
	}
	return p.bufferedConn.Read(b)
}

// unixSocket parses a D-Bus "unix:path=..." or "unix:abstract=..." address.
func unixSocket(addr string) (network, sockaddr string, ok bool) {
	rest, found := strings.CutPrefix(addr, "unix:")
	if !found {
		return "", "", false
	}
	for _, kv := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(kv, "=")
		v, err := dbus.UnescapeBusAddressValue(v)
		if err != nil {
			return "", "", false
		}
		switch k {
		case "path":
			return "unix", v, true
		case "abstract":
			return "unix", "@" + v, true
		}
	}
	return "", "", false
}

// errRetry asks get to try again without pipelining.
var errRetry = errors.New("retry the read step by step")

// unavailable wraps a D-Bus failure. No Secret Service on the bus gets a
// message that says so; a deadline is a hang. On a pipelined connection any
// other failure is errRetry: the step-by-step attempt (bounded by the same
// deadline) either works or gives the real reason.
func unavailable(pipelined bool, what string, err error) error {
	var derr dbus.Error
	isReply := errors.As(err, &derr)
	switch {
	case isReply && derr.Name == "org.freedesktop.DBus.Error.ServiceUnknown":
		return fmt.Errorf("%w: no Secret Service (org.freedesktop.secrets) on the session bus", ErrUnavailable)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: %s did not answer in time", errNoAnswer, what)
	case pipelined:
		// A refused handshake shows up as errAuthRefused or, when the
		// refusal closed the connection before a call was sent, as a
		// closed connection; an error reply may be the registration race.
		return errRetry
	}
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
}
