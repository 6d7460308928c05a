//go:build linux

package keyring

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

func BenchmarkZZConnect(b *testing.B) {
	requireSecretService(b)
	for b.Loop() {
		c, err := connectBus(os.Getenv("DBUS_SESSION_BUS_ADDRESS"), time.Now().Add(time.Second))
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

func BenchmarkZZSearch(b *testing.B) {
	requireSecretService(b)
	c, _ := connectBus(os.Getenv("DBUS_SESSION_BUS_ADDRESS"), time.Now().Add(time.Hour))
	defer c.Close()
	for b.Loop() {
		var u, l []dbus.ObjectPath
		if err := c.Object(ssName, ssPath).CallWithContext(context.Background(), ssService+".SearchItems", 0, map[string]string{"username": "x", "service": Service}).Store(&u, &l); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkZZPing(b *testing.B) {
	requireSecretService(b)
	c, _ := connectBus(os.Getenv("DBUS_SESSION_BUS_ADDRESS"), time.Now().Add(time.Hour))
	defer c.Close()
	for b.Loop() {
		if err := c.Object(ssName, ssPath).Call("org.freedesktop.DBus.Peer.Ping", 0).Err; err != nil {
			b.Fatal(err)
		}
	}
}
