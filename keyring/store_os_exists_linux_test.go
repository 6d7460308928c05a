//go:build linux

package keyring

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/keyringtest"
)

// secretCalls watches the session bus, as its own user's monitor, for the
// Secret Service calls that carry or prepare a secret (OpenSession,
// GetSecrets) and for searches; it returns the calls seen so far, each as
// its member name and the item paths or attributes it names.
func secretCalls(t *testing.T) (seen func() []string) {
	t.Helper()
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rule := "type='method_call',interface='" + ssService + "'"
	if err := conn.BusObject().Call("org.freedesktop.DBus.Monitoring.BecomeMonitor", 0, []string{rule}, uint32(0)).Err; err != nil {
		t.Fatalf("becoming a monitor of the session bus: %v", err)
	}
	msgs := make(chan *dbus.Message, 256)
	conn.Eavesdrop(msgs)
	var mu sync.Mutex
	var calls []string
	go func() {
		for m := range msgs {
			member, _ := m.Headers[dbus.FieldMember].Value().(string)
			call := member
			for _, b := range m.Body {
				switch v := b.(type) {
				case []dbus.ObjectPath:
					for _, p := range v {
						call += " " + string(p)
					}
				case map[string]string:
					call += " " + v["username"]
				}
			}
			mu.Lock()
			calls = append(calls, call)
			mu.Unlock()
		}
	}()
	return func() []string {
		time.Sleep(100 * time.Millisecond) // the monitor's copy arrives a moment later
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(calls)
	}
}

// TestOSStoreExistsSearchesOnly: Exists tells an entry that is there from
// one that is not with a search alone: the bus carries no GetSecrets for
// the entry's item, which a Get (the control) does.
func TestOSStoreExistsSearchesOnly(t *testing.T) {
	requireSecretService(t)
	s := NewOSStore(0)
	key := uniqueKeyringKey(t, "secret-")
	if ok, err := s.Exists(key); ok || err != nil {
		t.Fatalf("Exists before Set = %v, %v; want false, nil", ok, err)
	}
	if err := s.Set(key, []byte("a-secret-to-leave-unread")); err != nil {
		t.Fatal(err)
	}
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var items, locked []dbus.ObjectPath
	if err := conn.Object(ssName, ssPath).Call(ssService+".SearchItems", 0, map[string]string{"username": key, "service": Service}).Store(&items, &locked); err != nil || len(items) != 1 {
		t.Fatalf("the test's own search for the entry: %v, %v", items, err)
	}
	item := string(items[0])
	seen := secretCalls(t)

	if ok, err := s.Exists(key); !ok || err != nil {
		t.Fatalf("Exists after Set = %v, %v; want true, nil", ok, err)
	}
	calls := seen()
	if !slices.Contains(calls, "SearchItems "+key) {
		t.Fatalf("the monitor saw no search for the key (%q): it would see nothing", calls)
	}
	if slices.Contains(calls, "GetSecrets "+item) {
		t.Errorf("Exists asked for the secret of %s: %q", item, calls)
	}
	// The control: a Get asks for it, and the monitor sees that.
	if _, err := s.Get(key); err != nil {
		t.Fatal(err)
	}
	if calls := seen(); !slices.Contains(calls, "GetSecrets "+item) {
		t.Errorf("the monitor did not see Get's GetSecrets for %s (%q): the check above proves nothing", item, calls)
	}

	if err := s.Delete(key); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Exists(key); ok || err != nil {
		t.Errorf("Exists after Delete = %v, %v; want false, nil", ok, err)
	}
}

// TestForeignBusMatched: a bus refused for whose it is matches
// ErrForeignBus, over each kind of address another user's bus can have,
// for every call; a stale address, whose socket is gone, and no address at
// all are no bus (ErrNoSession) but not another user's.
func TestForeignBusMatched(t *testing.T) {
	foreign := keyringtest.StartForeignBus(t)
	s := NewOSStore(2 * time.Second)
	calls := map[string]func(key string) error{
		"Get":    func(key string) error { _, err := s.Get(key); return err },
		"Exists": func(key string) error { _, err := s.Exists(key); return err },
		"Set":    func(key string) error { return s.Set(key, []byte("never-sent")) },
		"Delete": func(key string) error { return s.Delete(key) },
	}
	tests := []struct {
		name, addr string
		foreign    bool
	}{
		{"path in their directory", foreign.PathAddr, true},
		{"path in /tmp", foreign.TmpAddr, true},
		{"abstract", foreign.AbstractAddr, true},
		{"stale path", "unix:path=" + filepath.Join(t.TempDir(), "gone"), false},
		{"no address", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DBUS_SESSION_BUS_ADDRESS", tt.addr)
			t.Setenv("XDG_RUNTIME_DIR", t.TempDir()) // no bus socket there either
			for name, call := range calls {
				err := call(randomKey("token-"))
				if !errors.Is(err, ErrNoSession) || errors.Is(err, ErrForeignBus) != tt.foreign {
					t.Errorf("%s = %v; want ErrNoSession, and ErrForeignBus %v", name, err, tt.foreign)
				}
			}
		})
	}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		// Our own bus, when there is one, is nobody else's.
		if _, err := s.Get(randomKey("token-")); errors.Is(err, ErrForeignBus) {
			t.Errorf("our own bus: %v", err)
		}
	}
}
