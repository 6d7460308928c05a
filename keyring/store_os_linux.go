//go:build linux

package keyring

import (
	"bufio"
	"context"
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
	ssItem            = "org.freedesktop.Secret.Item"
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

// get reads key's entry from the Secret Service on one short-lived, plain
// godbus connection: authenticate and Hello (as godbus does them), then
// SearchItems, OpenSession and GetSecrets, one call after another. No
// introspection, no properties, no Unlock. With tokens in the kernel keyring
// this read happens once per refresh and for a profile's secret, not on
// every call, so it is written for clarity rather than round trips. The
// session is not closed explicitly; the service drops a client's sessions
// when its connection goes.
//
// It never unlocks or prompts (go-keyring's Get calls Unlock, which can
// show a prompt): an entry that exists only in a locked collection is
// ErrUnreachable, so the auto mode moves on at once.
func (s *OSStore) get(key string) ([]byte, error) {
	addr := sessionBusAddress(os.Getenv, os.Getuid)
	if addr == "" {
		return nil, errNoBus
	}
	return getSecret(addr, key, time.Now().Add(s.timeout))
}

func getSecret(addr, key string, deadline time.Time) ([]byte, error) {
	conn, err := connectBus(addr, deadline)
	if err != nil {
		return nil, unavailable("connecting to the D-Bus session bus", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	svc := conn.Object(ssName, ssPath)
	unlocked, locked, err := searchItems(ctx, conn, key)
	if err != nil {
		return nil, unavailable("searching the Secret Service", err)
	}
	if len(unlocked) == 0 {
		if len(locked) > 0 {
			return nil, fmt.Errorf("%w: the entry is in a locked keyring collection", ErrUnreachable)
		}
		return nil, missing(ctx, conn)
	}

	var ignored dbus.Variant
	var session dbus.ObjectPath
	err = svc.CallWithContext(ctx, ssService+".OpenSession", 0, "plain", dbus.MakeVariant("")).Store(&ignored, &session)
	if err != nil {
		return nil, unavailable("opening a Secret Service session", err)
	}
	var secrets map[dbus.ObjectPath]ssSecret
	err = svc.CallWithContext(ctx, ssService+".GetSecrets", 0, unlocked[:1], session).Store(&secrets)
	if err != nil {
		return nil, unavailable("reading the secret", err)
	}
	sec, ok := secrets[unlocked[0]]
	if !ok {
		// GetSecrets leaves out items that were locked in the meantime.
		return nil, fmt.Errorf("%w: the entry is locked", ErrUnreachable)
	}
	return sec.Value, nil
}

// del removes key's entries over a plain godbus connection, like get, and
// for the same reason: go-keyring's Delete unlocks the collection first,
// which can show a prompt. An entry that only a locked collection holds, or
// whose removal needs a prompt, is ErrUnreachable, never a prompt.
func (s *OSStore) del(key string) error {
	addr := sessionBusAddress(os.Getenv, os.Getuid)
	if addr == "" {
		return errNoBus
	}
	deadline := time.Now().Add(s.timeout)
	conn, err := connectBus(addr, deadline)
	if err != nil {
		return unavailable("connecting to the D-Bus session bus", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	unlocked, locked, err := searchItems(ctx, conn, key)
	if err != nil {
		return unavailable("searching the Secret Service", err)
	}
	if len(locked) > 0 {
		return fmt.Errorf("%w: the entry is in a locked keyring collection", ErrUnreachable)
	}
	for _, item := range unlocked {
		var prompt dbus.ObjectPath
		if err := conn.Object(ssName, item).CallWithContext(ctx, ssItem+".Delete", 0).Store(&prompt); err != nil {
			return unavailable("deleting the entry", err)
		}
		if prompt != "/" {
			// The prompt is left unanswered: it dismisses itself.
			return fmt.Errorf("%w: deleting the entry needs a prompt", ErrUnreachable)
		}
	}
	return nil
}

// searchItems finds key's items, unlocked and locked. gnome-keyring 42 was
// seen, rarely and only under heavy load, to answer a SearchItems with
// UnknownMethod ("Method SearchItems is not implemented on interface
// org.freedesktop.Secret.Service"), which it does implement; that answer is
// asked again once.
func searchItems(ctx context.Context, conn *dbus.Conn, key string) (unlocked, locked []dbus.ObjectPath, err error) {
	for try := 0; ; try++ {
		err = conn.Object(ssName, ssPath).CallWithContext(ctx, ssService+".SearchItems", 0, map[string]string{"username": key, "service": Service}).Store(&unlocked, &locked)
		var derr dbus.Error
		if try > 0 || !errors.As(err, &derr) || derr.Name != "org.freedesktop.DBus.Error.UnknownMethod" {
			return unlocked, locked, err
		}
		select {
		case <-ctx.Done():
			return nil, nil, err
		case <-time.After(20 * time.Millisecond):
		}
	}
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
			return unavailable("checking the keyring collection", err)
		}
		if locked, _ := v.Value().(bool); locked {
			return fmt.Errorf("%w: the keyring collection is locked", ErrUnreachable)
		}
		return fmt.Errorf("keyring read: %w", ErrNotFound)
	}
	return fmt.Errorf("%w: no login or default keyring collection to write to", ErrUnreachable)
}

// errNoBus says why there is no keyring without trying to start a bus: godbus
// would run dbus-launch, leaving a stray daemon behind on a headless machine.
var errNoBus = fmt.Errorf("%w (DBUS_SESSION_BUS_ADDRESS is not set)", ErrNoSession)

// canReachKeyring fails fast, before go-keyring is asked to write, when
// there is no session bus at all (go-keyring would try dbus-launch), or its
// socket file does not exist.
func canReachKeyring() error {
	addr := sessionBusAddress(os.Getenv, os.Getuid)
	if addr == "" {
		return errNoBus
	}
	if _, path, ok := unixSocket(addr); ok && !strings.HasPrefix(path, "@") {
		if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w (%s does not exist)", ErrNoSession, path)
		}
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

// connectBus connects to the bus at addr, authenticates and says Hello, with
// godbus's own handshake. For Unix sockets (the usual case) it dials itself
// so the socket carries the deadline: then even a bus that accepts and never
// answers cannot hold the read past it, and no goroutine is left behind; and
// it reads the socket through a buffer (see bufferedConn). The Unix-fd
// negotiation, which a secret read does not need, is skipped.
func connectBus(addr string, deadline time.Time) (*dbus.Conn, error) {
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
			return c, nil
		}
		d := net.Dialer{Deadline: deadline}
		nc, err := d.Dial(network, sockaddr)
		if err != nil {
			lastErr = err
			continue
		}
		if err := nc.SetDeadline(deadline); err != nil {
			nc.Close()
			return nil, err
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
			return nil, err
		}
		return c, nil
	}
	if lastErr == nil {
		lastErr = errors.New("no usable address in DBUS_SESSION_BUS_ADDRESS")
	}
	return nil, lastErr
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

// unavailable wraps a D-Bus failure. No Secret Service on the bus gets a
// message that says so; a deadline is a hang.
func unavailable(what string, err error) error {
	var derr dbus.Error
	switch {
	case errors.As(err, &derr) && derr.Name == "org.freedesktop.DBus.Error.ServiceUnknown":
		return fmt.Errorf("%w: no Secret Service (org.freedesktop.secrets) on the session bus", ErrUnreachable)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: %s did not answer in time", errNoAnswer, what)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnreachable, what, err)
}
