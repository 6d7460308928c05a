package keyring

import "testing"

// TestOpenStoreBuildsOnlyItsStore: a mode of one store builds that store
// and nothing more (the cached call opens one each time), where building
// every tier to pick one cost six allocations.
func TestOpenStoreBuildsOnlyItsStore(t *testing.T) {
	cfg := StoreConfig{Dir: t.TempDir()}
	for _, mode := range []Mode{ModeKernel, ModeKeyring, ModeFile} {
		if _, err := OpenStore(mode, cfg); err != nil {
			continue // the kernel keyring off Linux
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = OpenStore(mode, cfg) }); n > 1 {
			t.Errorf("OpenStore(%s): %v allocations, want at most 1 (its store)", mode, n)
		}
	}
}
