//go:build !linux

package keyringtest

import "testing"

// Nobody is the uid (and gid) the other user's processes run as.
const Nobody = 65534

// ForeignBus is Linux-only: another user's session bus and Secret Service.
// It exists here so that tests using it compile on every platform.
type ForeignBus struct {
	PathAddr, TmpAddr, AbstractAddr string
}

// StartForeignBus skips the test: there is no D-Bus to squat outside Linux.
func StartForeignBus(t testing.TB) *ForeignBus {
	t.Helper()
	t.Skip("another user's D-Bus session bus is Linux-only")
	return nil
}

// SecretTool is never reached: StartForeignBus skips.
func (b *ForeignBus) SecretTool(t testing.TB, stdin string, args ...string) (string, int) {
	return "", 0
}

// Items is never reached: StartForeignBus skips.
func (b *ForeignBus) Items(t testing.TB, attrs ...string) int { return 0 }

// Store is never reached: StartForeignBus skips.
func (b *ForeignBus) Store(t testing.TB, value string, attrs ...string) {}

// WatchConnections is never reached: StartForeignBus skips.
func (b *ForeignBus) WatchConnections(t testing.TB) (count func() int) {
	return func() int { return 0 }
}
