package keyring

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"
)

// Mode selects where tokens are cached (--cache, DT_TOKEN_CACHE).
type Mode string

// The cache modes.
const (
	// ModeAuto uses, on Linux, the kernel keyring, then the OS keyring (the
	// Secret Service), then files, each once the one before turns out to be
	// unavailable; elsewhere the OS keyring, then files.
	ModeAuto Mode = "auto"
	// ModeKernel uses only the Linux kernel keyring (see [KernelStore]); its
	// failures are errors.
	ModeKernel Mode = "kernel"
	// ModeKeyring uses only the OS keyring (Secret Service, Keychain,
	// Credential Manager); its failures are errors.
	ModeKeyring Mode = "keyring"
	// ModeFile uses only files in the cache directory.
	ModeFile Mode = "file"
	// ModeNone caches nothing.
	ModeNone Mode = "none"
)

// ModeChoices is every cache mode, in the order help lists them, separated
// by "|" as a usage line writes them: the one list of modes. ParseMode,
// [ModeNames] and --cache's help are built from it, and tests check that
// [OpenStore] opens each and README's --cache line lists them all. A
// constant, so that the help of the hot path's command costs nothing to
// build.
const ModeChoices = string(ModeAuto) + "|" + string(ModeKernel) + "|" + string(ModeKeyring) + "|" + string(ModeFile) + "|" + string(ModeNone)

// ModeNames returns every cache mode's name, in the order help lists them.
func ModeNames() []string { return strings.Split(ModeChoices, "|") }

// ParseMode parses a --cache or DT_TOKEN_CACHE value; empty means
// [ModeAuto].
func ParseMode(s string) (Mode, error) {
	if s == "" {
		return ModeAuto, nil
	}
	for name := range strings.SplitSeq(ModeChoices, "|") {
		if s == name {
			return Mode(name), nil
		}
	}
	return "", unknownMode(s)
}

func unknownMode(s string) error {
	return fmt.Errorf("unknown cache mode %q: want one of %s", s, strings.Join(ModeNames(), ", "))
}

// StoreConfig configures [OpenStore]: where the stores of a mode keep their
// entries and how long the OS keyring may take. The cache's own settings
// are a [CacheConfig]; a store knows nothing of tokens or refreshes.
type StoreConfig struct {
	// Dir is the file cache directory, usually [DefaultDir]; required by
	// the file and auto modes.
	Dir string
	// Timeout bounds each OS keyring call; zero means [DefaultOSTimeout].
	Timeout time.Duration
	// Log receives the keyring fallback at Debug level; nil discards it.
	Log *slog.Logger
}

// OpenStore returns the store for mode. It touches neither the keyring nor the
// disk: the first Get is the first D-Bus call, so the hot path pays for
// nothing it does not use.
func OpenStore(mode Mode, cfg StoreConfig) (Store, error) {
	switch mode {
	case ModeNone:
		return NoneStore{}, nil
	case ModeKernel:
		k := kernelTier()
		if k == nil {
			return nil, errors.New("cache mode kernel: the kernel keyring is Linux only")
		}
		return k, nil
	case ModeKeyring:
		return NewOSStore(cfg.Timeout), nil
	case ModeFile, ModeAuto, "":
		if cfg.Dir == "" {
			return nil, fmt.Errorf("cache mode %s needs a cache directory", cmp.Or(mode, ModeAuto))
		}
		if mode == ModeFile {
			return NewFileStore(cfg.Dir), nil
		}
		a := openOSAuto(cfg)
		if k := kernelTier(); k != nil {
			// The kernel keyring never hangs, so no hung marker for it;
			// the Secret Service below keeps its own. A kernel miss reads
			// the Secret Service and the files, once per refresh.
			auto := NewAutoStore(k, a, cfg.Log)
			auto.promote = true
			return auto, nil
		}
		return a, nil
	}
	return nil, unknownMode(string(mode))
}

// openOSAuto is the OS keyring with the file cache behind it: the whole
// auto mode where there is no kernel keyring, its second and third tiers
// where there is.
func openOSAuto(cfg StoreConfig) *AutoStore {
	a := NewAutoStore(NewOSStore(cfg.Timeout), NewFileStore(cfg.Dir), cfg.Log)
	a.hungMarker = filepath.Join(cfg.Dir, hungMarkerName)
	return a
}
