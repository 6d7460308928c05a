//go:build unix && !linux

package plugin

import "os"

// Other systems have no parent-death signal: the watch polls the parent.
func parentDeathSignals() []os.Signal { return nil }

func setParentDeathSignal() error { return nil }
