//go:build !linux

package keyringtest

import (
	"sync/atomic"
	"testing"
)

// HungService is Linux-only: the Secret Service is a D-Bus service, and only
// Linux has one to hang. It exists here so that tests using it compile on
// every platform.
type HungService struct {
	// Addr is the private bus's address, for DBUS_SESSION_BUS_ADDRESS.
	Addr  string
	calls atomic.Int32
}

// Calls is how many Secret Service calls reached the service.
func (h *HungService) Calls() int { return int(h.calls.Load()) }

// StartHungService skips the test: there is no Secret Service to stand in
// for outside Linux.
func StartHungService(t testing.TB) *HungService {
	t.Helper()
	t.Skip("a hung Secret Service needs D-Bus, which this test starts only on Linux")
	return nil
}
