package tokens

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// Cache is where the configuration caches tokens: the store its cache mode
// names, and the directory of the lock files that make processes refresh
// once (empty for no lock).
type Cache struct {
	Store   keyring.Store
	LockDir string
}

// OpenCache opens the token cache cfg names. Under the none mode nothing
// is cached, so there is nothing to refresh once for everyone: no
// directory and no lock. Otherwise the directory holds the lock files, and
// the entries in the file and auto modes.
func OpenCache(cfg Config) (Cache, error) {
	cfg = cfg.withDefaults()
	var dir string
	if cfg.Cache != keyring.ModeNone {
		var err error
		if dir, err = cacheDirectory(cfg); err != nil {
			return Cache{}, err
		}
	}
	s, err := keyring.OpenStore(cfg.Cache, keyring.StoreConfig{Dir: dir, Timeout: cfg.KeyringTimeout, Log: cfg.Log})
	if err != nil {
		return Cache{}, misconfig.Wrap(err)
	}
	return Cache{Store: s, LockDir: dir}, nil
}

// Cached returns a's cached token, fresh or not, without refreshing it (for
// status); see keyring.Cache.Cached for the errors.
func (c Cache) Cached(ctx context.Context, a Account) (*oauth2.Token, error) {
	// A cache without an upstream: Cached never refreshes.
	return keyring.NewCache(nil, keyring.CacheConfig{
		Store:    c.Store,
		Key:      a.Key(),
		Endpoint: a.Credentials.TokenEndpoint,
		KeyID:    a.Credentials.KeyID,
		Email:    a.Credentials.Email,
		Identity: a.identity,
	}).Cached(ctx)
}

// cacheDirectory finds the cache directory and makes sure it is a private
// directory of ours, looked up through directories only we or root can
// write (privatefile.EnsureDir), creating it when missing: the default with
// its parents, an explicit DT_CACHE_DIR only its last component. It is
// checked here, on every call, so that a directory the cache must not use
// (a symlink, a shared or another user's directory, a file, one under a
// directory others can write) is a configuration error naming it, rather
// than a refresh that quietly goes without its lock. The keyring mode can
// do without a directory when none can be found (no HOME): its refreshes
// then take no lock.
func cacheDirectory(cfg Config) (string, error) {
	explicit := cfg.Getenv("DT_CACHE_DIR") != ""
	dir, err := keyring.DefaultDir(cfg.Getenv)
	if err != nil {
		if (cfg.Cache == keyring.ModeKeyring || cfg.Cache == keyring.ModeKernel) && !explicit {
			return "", nil
		}
		return "", misconfig.Wrap(err)
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
		return "", misconfig.Errorf("cache directory not trusted: %w; %s", err, advice)
	}
	if err != nil {
		// A directory that cannot be made (read-only or full file system, a
		// path through a file) costs a refresh per call, never the token:
		// the writes fail and say so under --verbose.
		cfg.Log.Debug("token cache: the cache directory cannot be used", "dir", dir, "err", err)
	}
	return dir, nil
}

// Forget removes account's cached token from every store it may be in,
// the kernel keyring (Linux), the OS keyring and the file cache, whatever
// the cache mode and whatever the memory of a hung keyring says: logout
// must not leave a token behind because an earlier call found the keyring
// slow, nor login one that an earlier secret obtained. It holds the key's
// lock meanwhile (when it can be had within its usual wait), so that a
// refresh already under way, perhaps with the earlier secret, writes its
// token before, not after, the removal. Each OS keyring call is bounded by
// cfg's keyring timeout. The error names every store the token could not
// be removed from.
func Forget(ctx context.Context, cfg Config, account auth.Credentials) error {
	cfg = cfg.withDefaults()
	key := keyring.Key(account.TokenEndpoint, account.KeyID, account.Email)
	cfg.Cache = keyring.ModeAuto // the file cache's directory, whatever the mode
	dir, dirErr := cacheDirectory(cfg)
	if dirErr == nil && dir != "" {
		unlock, err := keyring.Lock(ctx, dir, key, 0)
		if err != nil {
			// As a refresh does: better removed without the lock than not.
			cfg.Log.Debug("forgetting the cached token without the cache lock", "error", err)
		} else {
			defer unlock()
		}
	}
	var errs []error
	if k, err := keyring.OpenStore(keyring.ModeKernel, keyring.StoreConfig{}); err == nil {
		// A kernel keyring this process may not use (keyctl refused)
		// holds none of its tokens either.
		if err := k.Delete(key); err != nil && !errors.Is(err, keyring.ErrUnreachable) {
			errs = append(errs, fmt.Errorf("from the kernel keyring: %w", err))
		}
	}
	// Likewise a keyring with no session to reach (a headless machine); one
	// that did not answer may hold them, and is an error.
	if err := keyring.NewOSStore(cfg.KeyringTimeout).Delete(key); err != nil && !errors.Is(err, keyring.ErrNoSession) {
		errs = append(errs, fmt.Errorf("from the keyring: %w", err))
	}
	err := dirErr
	if err == nil && dir != "" {
		err = keyring.NewFileStore(dir).Delete(key)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("from the file cache: %w", err))
	}
	return errors.Join(errs...)
}
