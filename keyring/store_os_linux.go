//go:build linux

package keyring

import (
	"context"
	"errors"
	"fmt"
	"os"
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

// dial opens the connection each call makes its own (connectBus: checked,
// authenticated, Hello) to k's bus, and the context its calls run under;
// both end at s's timeout from now, and done closes them.
func (s *OSStore) dial(k osKeyring) (ctx context.Context, conn *dbus.Conn, done func(), err error) {
	deadline := time.Now().Add(s.timeout)
	if conn, err = connectBus(k, deadline); err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	return ctx, conn, func() {
		cancel()
		conn.Close()
	}, nil
}

// get reads key's entry from the Secret Service on one short-lived, plain
// godbus connection of its own (connectBus: checked, authenticated, Hello),
// then SearchItems, OpenSession and GetSecrets, one call after another. No
// introspection, no properties, no Unlock. With tokens in the kernel keyring
// this read happens once per refresh and for a profile's secret, not on
// every call, so it is written for clarity rather than round trips. The
// session is not closed explicitly; the service drops a client's sessions
// when its connection goes.
//
// It never unlocks or prompts (go-keyring's Get calls Unlock, which can
// show a prompt): an entry that exists only in a locked collection is
// ErrUnreachable, so the auto mode moves on at once.
func (s *OSStore) get(k osKeyring, key string) ([]byte, error) {
	ctx, conn, done, err := s.dial(k)
	if err != nil {
		return nil, err
	}
	defer done()

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

	session, err := openSession(ctx, conn)
	if err != nil {
		return nil, err
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

// set writes key's entry as go-keyring v0.2.8's Set does, so that each reads
// what the other wrote: CreateItem in the login collection (or the one the
// "default" alias names), with go-keyring's label, attributes and content
// type, replacing an item with the same attributes. It goes over a checked
// connection of its own (go-keyring's cannot be checked), and, unlike
// go-keyring, it never unlocks: a locked collection, or a write that needs a
// prompt, is ErrUnreachable at once rather than a prompt nobody may see.
func (s *OSStore) set(k osKeyring, key string, data []byte) error {
	ctx, conn, done, err := s.dial(k)
	if err != nil {
		return err
	}
	defer done()

	collection, err := writableCollection(ctx, conn)
	if err != nil {
		return err
	}
	session, err := openSession(ctx, conn)
	if err != nil {
		return err
	}
	props := map[string]dbus.Variant{
		ssItem + ".Label":      dbus.MakeVariant(fmt.Sprintf("Password for '%s' on '%s'", key, Service)),
		ssItem + ".Attributes": dbus.MakeVariant(map[string]string{"username": key, "service": Service}),
	}
	secret := ssSecret{Session: session, Parameters: []byte{}, Value: data, ContentType: "text/plain; charset=utf8"}
	var item, prompt dbus.ObjectPath
	err = conn.Object(ssName, collection).CallWithContext(ctx, ssCollection+".CreateItem", 0, props, secret, true).Store(&item, &prompt)
	if err != nil {
		return unavailable("writing the entry", err)
	}
	if prompt != "/" {
		// The prompt is left unanswered: it dismisses itself.
		return fmt.Errorf("%w: writing the entry needs a prompt", ErrUnreachable)
	}
	return nil
}

// openSession opens a "plain" Secret Service session: the secret crosses
// the socket as it is, to a peer already known to be our own uid's.
func openSession(ctx context.Context, conn *dbus.Conn) (dbus.ObjectPath, error) {
	var ignored dbus.Variant
	var session dbus.ObjectPath
	err := conn.Object(ssName, ssPath).CallWithContext(ctx, ssService+".OpenSession", 0, "plain", dbus.MakeVariant("")).Store(&ignored, &session)
	if err != nil {
		return "", unavailable("opening a Secret Service session", err)
	}
	return session, nil
}

// del removes key's entries over a checked godbus connection, like get, and
// for the same reason: go-keyring's Delete unlocks the collection first,
// which can show a prompt. An entry that only a locked collection holds, or
// whose removal needs a prompt, is ErrUnreachable, never a prompt.
func (s *OSStore) del(k osKeyring, key string) error {
	ctx, conn, done, err := s.dial(k)
	if err != nil {
		return err
	}
	defer done()

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
// (a refresh over the network follows anyway), is the collection set writes
// to checked: if it is locked or does not exist, the write would fail, so
// the keyring is reported unavailable now and the auto mode writes a file
// instead.
func missing(ctx context.Context, conn *dbus.Conn) error {
	if _, err := writableCollection(ctx, conn); err != nil {
		return err
	}
	return fmt.Errorf("keyring read: %w", ErrNotFound)
}

// writableCollection is the collection go-keyring writes to, the "login"
// one or else the one the "default" alias names, if it exists and is
// unlocked; otherwise an error wrapping ErrUnreachable.
func writableCollection(ctx context.Context, conn *dbus.Conn) (dbus.ObjectPath, error) {
	for _, path := range []dbus.ObjectPath{ssLoginCollection, ssDefaultAlias} {
		var v dbus.Variant
		err := conn.Object(ssName, path).CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, ssCollection, "Locked").Store(&v)
		if err != nil {
			// An error reply means no such collection (the name varies
			// between services); anything else is the bus failing.
			var derr dbus.Error
			if errors.As(err, &derr) && derr.Name != "org.freedesktop.DBus.Error.ServiceUnknown" {
				continue
			}
			return "", unavailable("checking the keyring collection", err)
		}
		if locked, _ := v.Value().(bool); locked {
			return "", fmt.Errorf("%w: the keyring collection is locked", ErrUnreachable)
		}
		return path, nil
	}
	return "", fmt.Errorf("%w: no login or default keyring collection to write to", ErrUnreachable)
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
