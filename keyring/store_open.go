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
	// DirChecked says Dir and every directory above it were checked in this
	// process (as [CacheDir] checks them): the file store's reads do not
	// walk them again.
	DirChecked bool
}

// OpenStore returns the store for mode: one of the tiers, or for the auto
// mode the tiers stacked, each falling back to the next. It touches neither
// the keyring nor the disk: the first Get is the first D-Bus call, so the
// hot path pays for nothing it does not use.
func OpenStore(mode Mode, cfg StoreConfig) (Store, error) {
	switch mode {
	case ModeNone:
		return NoneStore{}, nil
	case ModeFile, ModeAuto, "":
		if cfg.Dir == "" {
			return nil, fmt.Errorf("cache mode %s needs a cache directory", cmp.Or(mode, ModeAuto))
		}
	}
	switch mode {
	case ModeKernel, ModeKeyring, ModeFile:
		// Only the store the mode uses: the hot path builds nothing more.
		if t, ok := newTier(mode, cfg); ok {
			return t.store, nil
		}
		return nil, errors.New("cache mode kernel: the kernel keyring is Linux only")
	case ModeAuto, "":
		return stackAuto(tiers(cfg), cfg), nil
	}
	return nil, unknownMode(string(mode))
}

// tier is one store entries can be in, as a mode of its own uses it.
type tier struct {
	mode  Mode
	store Store
	what  string // for errors: "kernel keyring", "keyring", "file cache"
	// holdsNone reports whether a failure to reach the store means that
	// it holds nothing of this process's: a kernel keyring keyctl refuses,
	// a keyring with no session bus of ours.
	holdsNone func(error) bool
}

// tiers are every store a cache mode keeps entries in, in the auto mode's
// order: the kernel keyring (Linux), the OS keyring, and the files in dir
// (left out when dir is ""). Every mode's store is one of them or stacks
// them (auto), so that [Forget], which deletes a key from each, cannot
// leave a token behind in a store added here; a store a mode used without
// being here would be, and TestForgetLeavesNothingInAnyMode says so.
func tiers(cfg StoreConfig) []tier {
	ts := make([]tier, 0, len(tierModes))
	for _, m := range tierModes {
		if t, ok := newTier(m, cfg); ok {
			ts = append(ts, t)
		}
	}
	return ts
}

// tierModes are the modes of a store of their own, in the auto mode's order.
var tierModes = [...]Mode{ModeKernel, ModeKeyring, ModeFile}

// newTier returns the tier of mode, one of tierModes; ok is false where
// there is none: the kernel keyring off Linux, the files without cfg.Dir.
func newTier(mode Mode, cfg StoreConfig) (t tier, ok bool) {
	switch mode {
	case ModeKernel:
		if k := kernelTier(); k != nil {
			return tier{ModeKernel, k, "kernel keyring", func(err error) bool { return errors.Is(err, ErrUnreachable) }}, true
		}
	case ModeKeyring:
		return tier{ModeKeyring, NewOSStore(cfg.Timeout), "keyring", func(err error) bool { return errors.Is(err, ErrNoSession) }}, true
	case ModeFile:
		if cfg.Dir != "" {
			return tier{ModeFile, &FileStore{dir: cfg.Dir, dirChecked: cfg.DirChecked}, "file cache", func(error) bool { return false }}, true
		}
	}
	return tier{}, false
}

// stackAuto is the auto mode over ts (kernel keyring, OS keyring, files):
// the OS keyring with the files behind it, remembering a hung keyring in
// the cache directory; where there is a kernel keyring, it over those, an
// entry found only below it copied up. The kernel keyring never hangs, so
// it needs no hung marker; a kernel miss reads the Secret Service and the
// files, once per refresh.
func stackAuto(ts []tier, cfg StoreConfig) Store {
	n := len(ts)
	a := osAuto(ts[n-2].store, ts[n-1].store, cfg)
	if n == 2 {
		return a
	}
	auto := NewAutoStore(ts[0].store, a, cfg.Log)
	auto.promote = true
	return auto
}

// osAuto is the OS keyring store over the file store, remembering a hung
// keyring in the cache directory (see hungMarkerName).
func osAuto(osStore, files Store, cfg StoreConfig) *AutoStore {
	a := NewAutoStore(osStore, files, cfg.Log)
	a.hungMarker = filepath.Join(cfg.Dir, hungMarkerName)
	return a
}
