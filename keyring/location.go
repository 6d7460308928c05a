package keyring

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// Location is where a [Cache] keeps its entries: a [Store], and the
// directory of the per-key lock files that make processes refresh once
// ("" for no cross-process lock). [OpenLocation] opens the one the
// dt-credential-helper command uses; a Location{Store: s} of your own is a
// cache in s without a lock.
type Location struct {
	Store   Store
	LockDir string
}

// LocationConfig says which of the command's token caches [OpenLocation]
// opens, and [Forget] cleans. The zero value is the command's default:
// the auto mode in the user's cache directory.
type LocationConfig struct {
	// Mode is the cache mode; "" means [ModeAuto], which reads an entry
	// the command wrote in any mode but none.
	Mode Mode
	// Getenv is where the cache directory is looked up ([DefaultDir]:
	// DT_CACHE_DIR, XDG_CACHE_HOME, HOME); nil means os.Getenv.
	Getenv func(string) string
	// KeyringTimeout bounds each OS keyring call; zero means
	// [DefaultOSTimeout].
	KeyringTimeout time.Duration
	// Log receives the store's fallbacks and a directory that cannot be
	// made, at debug level; nil discards.
	Log *slog.Logger
}

func (c LocationConfig) withDefaults() LocationConfig {
	c.Mode = cmp.Or(c.Mode, ModeAuto)
	c.Log = cmp.Or(c.Log, slog.New(slog.DiscardHandler))
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	return c
}

// OpenLocation opens the token cache the command uses for cfg: the store of
// the cache mode, over the cache directory, which is also where the lock
// files are. Under the none mode nothing is cached, so there is nothing to
// refresh once for everyone: no directory and no lock. It touches neither
// keyring, and the disk only to check (and, for the default, create) the
// directory. Its errors are the caller's configuration to fix: a directory
// that may not be used (see [CacheDir]), an unknown mode.
func OpenLocation(cfg LocationConfig) (Location, error) {
	cfg = cfg.withDefaults()
	var dir string
	var checked bool
	if cfg.Mode != ModeNone {
		var err error
		if dir, checked, err = cacheDir(cfg); err != nil {
			return Location{}, err
		}
	}
	s, err := OpenStore(cfg.Mode, StoreConfig{Dir: dir, Timeout: cfg.KeyringTimeout, Log: cfg.Log, DirChecked: checked})
	if err != nil {
		return Location{}, err
	}
	return Location{Store: s, LockDir: dir}, nil
}

// CacheDir finds the cache directory of cfg ([DefaultDir]) and makes sure
// it is a private directory of ours, looked up through directories only
// we or root can write (privatefile.EnsureDir), creating it when missing:
// the default with its parents, an explicit DT_CACHE_DIR only its last
// component. A directory the cache must not use (a symlink, a shared or
// another user's directory, a file, one under a directory others can
// write) is an error naming it, rather than a refresh that quietly goes
// without its lock. A directory that cannot be made (a read-only file
// system) is logged and returned: it costs a refresh per call, never the
// token. The kernel and keyring modes do without a directory when none
// can be found (no HOME): "" then, and their refreshes take no lock. Its
// errors are a [*DirError].
func CacheDir(cfg LocationConfig) (string, error) {
	dir, _, err := cacheDir(cfg)
	return dir, err
}

// cacheDir is [CacheDir], saying too whether dir passed its checks (it
// may not: a directory that cannot be made is returned all the same).
func cacheDir(cfg LocationConfig) (dir string, checked bool, err error) {
	cfg = cfg.withDefaults()
	explicit := cfg.Getenv("DT_CACHE_DIR") != ""
	dir, err = DefaultDir(cfg.Getenv)
	if err != nil {
		if (cfg.Mode == ModeKeyring || cfg.Mode == ModeKernel) && !explicit {
			return "", false, nil
		}
		return "", false, &DirError{Err: err}
	}
	err = privatefile.EnsureDir(dir, !explicit)
	var perr *privatefile.PermissionError
	if errors.As(err, &perr) {
		// The way out is another directory, never re-moding this one or
		// one above it: the program cannot know it made them, and a
		// directory the user named may be shared (/tmp) or serve other
		// things.
		advice := "or set DT_CACHE_DIR to a directory of your own"
		if explicit {
			advice = "for example DT_CACHE_DIR=~/.cache/dt-credential-helper"
		}
		return "", false, &DirError{Err: fmt.Errorf("cache directory not trusted: %w; %s", err, advice)}
	}
	if err != nil {
		cfg.Log.Debug("token cache: the cache directory cannot be used", "dir", dir, "err", err)
		return dir, false, nil
	}
	return dir, true, nil
}

// DirError is a cache directory that cannot be found or may not be used
// (see [CacheDir]): the caller's configuration to fix, which Misconfigured
// says, by the behaviour callers sort errors by.
type DirError struct{ Err error }

func (e *DirError) Error() string { return e.Err.Error() }

// Unwrap returns the cause: a *PermissionError for a directory refused.
func (e *DirError) Unwrap() error { return e.Err }

// Misconfigured reports true: another directory, or DT_CACHE_DIR, is the
// way out.
func (e *DirError) Misconfigured() bool { return true }

// Forget removes acct's cached token (and the back-off of its refreshes)
// from every store any cache mode keeps entries in (the kernel keyring on Linux, the OS keyring, the files in
// the cache directory: see tiers), whatever cfg's mode and whatever the
// memory of a hung keyring says: logout must not leave a token behind
// because an earlier call found the keyring slow, nor login one that an
// earlier secret obtained. It holds the key's lock meanwhile (when it can
// be had within its usual wait), so that a refresh already under way,
// perhaps with the earlier secret, writes its token before, not after, the
// removal. Each OS keyring call is bounded by cfg's KeyringTimeout. The
// error names every store the token could not be removed from; a store
// that cannot be reached at all (no session bus, a kernel keyring this
// process may not use) holds none of its tokens either, and is no error.
func Forget(ctx context.Context, cfg LocationConfig, acct Account) error {
	cfg = cfg.withDefaults()
	key := acct.Key()
	cfg.Mode = ModeAuto // the files' directory, whatever the mode
	dir, dirErr := CacheDir(cfg)
	if dirErr == nil && dir != "" {
		unlock, err := Lock(ctx, dir, key, 0)
		if err != nil {
			// As a refresh does: better removed without the lock than not.
			cfg.Log.Debug("forgetting the cached token without the cache lock", "error", err)
		} else {
			defer unlock()
		}
	}
	var errs []error
	for _, t := range tiers(StoreConfig{Dir: dir, Timeout: cfg.KeyringTimeout}) {
		if err := t.store.Delete(key); err != nil && !t.holdsNone(err) {
			errs = append(errs, fmt.Errorf("from the %s: %w", t.what, err))
			continue
		}
		// The back-off of the account's refreshes goes too: new
		// credentials deserve an attempt at once. Not worth an error.
		if err := t.store.Delete(key + backoffSuffix); err != nil && !t.holdsNone(err) {
			cfg.Log.Debug("forgetting the back-off record failed", "store", t.what, "error", err)
		}
	}
	if dirErr != nil {
		errs = append(errs, fmt.Errorf("from the file cache: %w", dirErr))
	}
	return errors.Join(errs...)
}

// Holder names the store of l that serves acct's cached entry: for the
// auto mode, the first of its stores in use that holds the key, as a read
// finds it (a keyring it has fallen back from is not asked again); for a
// mode of one store, that store; "" when none holds it. The name is the
// store's own ("kernel", "keyring", "file"), without a fallback's reason.
// status says it for each account.
func (l Location) Holder(acct Account) (string, error) {
	return holder(l.Store, acct.Key())
}

func holder(s Store, key string) (string, error) {
	a, ok := s.(*AutoStore)
	if !ok {
		_, err := s.Get(key)
		switch {
		case err == nil:
			return s.Name(), nil
		case errors.Is(err, ErrNotFound):
			return "", nil
		}
		return "", err
	}
	if _, fallen := a.fallenBack(); !fallen {
		name, err := holder(a.primary, key)
		if name != "" || (err != nil && !errors.Is(err, ErrUnreachable)) {
			return name, err
		}
	}
	return holder(a.fallback, key)
}
