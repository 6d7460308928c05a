// Package provider turns the command line's view of the world (flags,
// environment, profiles, cache mode) into the cached token source every mode
// of the program consumes: the token command, git, docker, exec and the
// plugin. No mode re-implements refresh logic; they all call Source.
package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
	"golang.org/x/oauth2"
)

// Config is what the command line decided.
type Config struct {
	// Profile is the default profile ("" = flags and environment only).
	Profile  string
	Settings auth.Settings
	// Cache is the cache mode (auto, keyring, file, none).
	Cache keyring.Mode
	// RefreshBuffer: a cached token with less than this left is refreshed;
	// zero means no buffer (callers pass auth.DefaultRefreshBuffer).
	RefreshBuffer time.Duration
	// Timeout bounds a refresh: the lock wait, the token request with its
	// retries, and the write. Serving a cached token is not timed.
	Timeout time.Duration
	Getenv  func(string) string
	Log     *slog.Logger
	// HTTPClient is used for token requests; nil means http.DefaultClient.
	HTTPClient *http.Client
	// KeyringTimeout bounds each keyring call; zero means the store's default.
	KeyringTimeout time.Duration
	// Vault is the Vault path and login the flags give (--vault-path and
	// the like). Without a profile, these and then the DT_VAULT_*
	// variables name the Vault path to read tokens from instead of a DT
	// account; for a Vault profile they override its fields.
	Vault profile.Vault
}

// The environment variables that name a Vault path for calls without a
// profile, below the flags as DT_SERVICE_ACCOUNT_* are.
const (
	EnvVaultPath      = "DT_VAULT_PATH"
	EnvVaultRole      = "DT_VAULT_ROLE"
	EnvVaultJWTFile   = "DT_VAULT_JWT_FILE"
	EnvVaultAuthMount = "DT_VAULT_AUTH_MOUNT"
)

// Provider builds and remembers one cached source per profile.
type Provider struct {
	cfg Config

	mu       sync.Mutex
	store    keyring.Store
	cacheDir string // set with store
	secrets  keyring.Store
	profiles *profile.File
	sources  map[string]entry
}

// entry is a profile's cached source and its account, without the secret.
type entry struct {
	src     *keyring.Cache
	account auth.Credentials
}

// New returns a provider for cfg.
func New(cfg Config) *Provider {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = auth.DefaultTimeout
	}
	if cfg.Cache == "" {
		cfg.Cache = keyring.ModeAuto
	}
	return &Provider{cfg: cfg, sources: map[string]entry{}}
}

// Source returns the cached token source for profile name ("" = the
// configured default profile, or flags and environment when there is none).
// The secret of a profile is read from the keyring only when a refresh needs
// it, so serving a cached token costs no keyring lookup for it.
func (p *Provider) Source(name string) (*keyring.Cache, error) {
	e, err := p.entry(name)
	return e.src, err
}

// Account returns the account profile name ("" as in Source) resolves to,
// without its secret.
func (p *Provider) Account(name string) (auth.Credentials, error) {
	e, err := p.entry(name)
	return e.account, err
}

func (p *Provider) entry(name string) (entry, error) {
	if name == "" {
		name = p.cfg.Profile
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.sources[name]; ok {
		return e, nil
	}
	// A profile's secret is in the keyring, read only when a refresh needs it.
	lazySecret := name != ""
	var layer auth.Credentials
	var prof profile.Profile
	if lazySecret {
		var err error
		if prof, err = p.profile(name); err != nil {
			return entry{}, err
		}
		layer = auth.Credentials{KeyID: prof.KeyID, Email: prof.Email, TokenEndpoint: prof.TokenEndpoint}
	}
	if v, ok, err := p.vaultSettings(name, prof.Vault); err != nil {
		return entry{}, err
	} else if ok {
		e, err := p.vaultEntry(v)
		if err == nil {
			p.sources[name] = e
		}
		return e, err
	}
	creds, err := auth.Layers(p.cfg.Settings, layer, p.cfg.Getenv)
	if err != nil {
		return entry{}, err
	}
	if lazySecret {
		// The environment's secret belongs to the environment's account,
		// not to a profile's.
		creds.Secret = ""
		err = creds.ValidateAccount()
	} else {
		err = creds.Validate()
	}
	if err != nil {
		return entry{}, err
	}
	store, err := p.tokenStore()
	if err != nil {
		return entry{}, err
	}
	upstream := &lazySource{build: func() (auth.ContextSource, error) {
		if lazySecret {
			secret, err := p.Secret(name)
			if err != nil {
				return nil, err
			}
			creds.Secret = secret
		}
		return auth.NewSource(creds,
			auth.WithTimeout(p.cfg.Timeout),
			auth.WithLogger(p.cfg.Log),
			auth.WithHTTPClient(p.httpClient()))
	}}
	s := keyring.NewCache(upstream, keyring.CacheConfig{
		Store:    store,
		Key:      keyring.Key(creds.TokenEndpoint, creds.KeyID, creds.Email),
		Endpoint: creds.TokenEndpoint,
		KeyID:    creds.KeyID,
		Email:    creds.Email,
		Buffer:   noZero(p.cfg.RefreshBuffer),
		LockDir:  p.cacheDir,
		Timeout:  p.cfg.Timeout,
		Log:      p.cfg.Log,
	})
	account := creds
	account.Secret = ""
	e := entry{src: s, account: account}
	p.sources[name] = e
	return e, nil
}

// Token returns a valid token for profile name, refreshing it first when
// force is set.
func (p *Provider) Token(ctx context.Context, name string, force bool) (*oauth2.Token, error) {
	s, err := p.Source(name)
	if err != nil {
		return nil, err
	}
	if force {
		return s.Refresh(ctx)
	}
	return s.TokenContext(ctx)
}

// Invalidate drops profile name's cached token if it is token (any token
// when token is empty): what git and docker erase and the plugin's
// InvalidateToken ask for.
func (p *Provider) Invalidate(ctx context.Context, name, token string) error {
	s, err := p.Source(name)
	if err != nil {
		return err
	}
	_, err = s.Invalidate(ctx, token)
	return err
}

// Profiles returns the configured profiles.
func (p *Provider) Profiles() (*profile.File, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.loadProfiles()
}

func (p *Provider) profile(name string) (profile.Profile, error) {
	if err := profile.ValidateName(name); err != nil {
		return profile.Profile{}, &auth.ConfigError{Msg: err.Error(), Err: profile.ErrUnknown}
	}
	f, err := p.loadProfiles()
	if err != nil {
		return profile.Profile{}, err
	}
	prof, err := f.Get(name)
	if err != nil {
		return profile.Profile{}, auth.NewConfigError(err)
	}
	return prof, nil
}

func (p *Provider) loadProfiles() (*profile.File, error) {
	if p.profiles != nil {
		return p.profiles, nil
	}
	path, err := profile.DefaultPath(p.cfg.Getenv)
	if err != nil {
		return nil, err
	}
	f, err := profile.Load(path)
	if err != nil {
		// Unreadable, invalid or untrusted: the file must be fixed first.
		return nil, auth.NewConfigError(err)
	}
	p.profiles = f
	return f, nil
}

// TokenStore returns the store tokens are cached in.
func (p *Provider) TokenStore() (keyring.Store, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tokenStore()
}

func (p *Provider) tokenStore() (keyring.Store, error) {
	if p.store != nil {
		return p.store, nil
	}
	var dir string
	if p.cfg.Cache != keyring.ModeNone {
		// Nothing is cached under none, so there is nothing to refresh once
		// for everyone: no directory and no lock. Otherwise the directory
		// holds the lock files, and the entries in the file and auto modes.
		var err error
		if dir, err = p.cacheDirectory(); err != nil {
			return nil, err
		}
		p.cacheDir = dir
	}
	s, err := keyring.OpenStore(p.cfg.Cache, keyring.StoreConfig{Dir: dir, Timeout: p.cfg.KeyringTimeout, Log: p.cfg.Log})
	if err != nil {
		return nil, auth.NewConfigError(err)
	}
	p.store = s
	return s, nil
}

// cacheDirectory finds the cache directory and makes sure it is a private
// directory of ours, creating it when missing: the default with its
// parents, an explicit DT_CACHE_DIR only its last component. It is checked
// here, on every call, so that a directory the cache must not use (a
// symlink, a shared or another user's directory, a file) is a configuration
// error naming it, rather than a refresh that quietly goes without its lock. The
// keyring mode can do without a directory when none can be found (no HOME):
// its refreshes then take no lock.
func (p *Provider) cacheDirectory() (string, error) {
	explicit := p.cfg.Getenv("DT_CACHE_DIR") != ""
	dir, err := keyring.DefaultDir(p.cfg.Getenv)
	if err != nil {
		if (p.cfg.Cache == keyring.ModeKeyring || p.cfg.Cache == keyring.ModeKernel) && !explicit {
			return "", nil
		}
		return "", auth.NewConfigError(err)
	}
	err = privatefile.EnsureDir(dir, !explicit)
	var perr *privatefile.PermissionError
	if errors.As(err, &perr) {
		return "", auth.NewConfigError(fmt.Errorf("cache directory %w; or set DT_CACHE_DIR to another directory", err))
	}
	if err != nil {
		// A directory that cannot be made (read-only or full file system, a
		// path through a file) costs a refresh per call, never the token:
		// the writes fail and say so under --verbose.
		p.cfg.Log.Debug("token cache: the cache directory cannot be used", "dir", dir, "err", err)
	}
	return dir, nil
}

// ForgetTokens removes account's cached token from every store it may be
// in, the kernel keyring (Linux), the OS keyring and the file cache,
// whatever the cache mode and whatever the memory of a hung keyring says:
// logout must not leave a token behind because an earlier call found the
// keyring slow. Each OS keyring call is bounded by the keyring timeout. The
// error names every store the token could not be removed from.
func (p *Provider) ForgetTokens(account auth.Credentials) error {
	key := keyring.Key(account.TokenEndpoint, account.KeyID, account.Email)
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
	if err := keyring.NewOSStore(p.cfg.KeyringTimeout).Delete(key); err != nil && !errors.Is(err, keyring.ErrNoSession) {
		errs = append(errs, fmt.Errorf("from the keyring: %w", err))
	}
	dir, err := p.cacheDirectory()
	if err == nil && dir != "" {
		err = keyring.NewFileStore(dir).Delete(key)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("from the file cache: %w", err))
	}
	return errors.Join(errs...)
}

// SecretStore returns the store that keeps profile secrets where says:
// [profile.SecretInKeyring], the OS keyring whatever the token cache mode,
// or [profile.SecretInFile], private files next to the profiles file, which
// only `login --store file` chooses.
func (p *Provider) SecretStore(where string) (keyring.Store, error) {
	if where == profile.SecretInFile {
		path, err := profile.DefaultPath(p.cfg.Getenv)
		if err != nil {
			return nil, err
		}
		dir := profile.SecretsDir(path)
		return secretFiles{keyring.NewFileStore(dir), dir}, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.secrets != nil {
		return p.secrets, nil
	}
	s, err := keyring.OpenStore(keyring.ModeKeyring, keyring.StoreConfig{Timeout: p.cfg.KeyringTimeout, Log: p.cfg.Log})
	if err != nil {
		return nil, err
	}
	p.secrets = s
	return s, nil
}

// secretFiles is the file store of profile secrets. Its directory sits in
// the config directory, which, unlike a directory the user names, may be
// created with its parents, as the profiles file's is.
type secretFiles struct {
	*keyring.FileStore
	dir string
}

func (s secretFiles) Set(key string, data []byte) error {
	if err := privatefile.EnsureDir(filepath.Dir(s.dir), true); err != nil {
		return err
	}
	return s.FileStore.Set(key, data)
}

// Secret reads profile name's secret from where the profile keeps it.
func (p *Provider) Secret(name string) (string, error) {
	prof, err := p.profile(name)
	if err != nil {
		return "", err
	}
	where := prof.SecretIn()
	store, err := p.SecretStore(where)
	if err != nil {
		return "", err
	}
	b, err := store.Get(profile.SecretKey(name))
	if errors.Is(err, keyring.ErrNotFound) {
		return "", &auth.ConfigError{Msg: fmt.Sprintf("profile %q has no secret in the %s: run `dt-credential-helper login --profile %s`", name, where, name)}
	}
	if err != nil {
		return "", fmt.Errorf("reading the secret of profile %q from the %s: %w", name, where, err)
	}
	return string(b), nil
}

func (p *Provider) httpClient() *http.Client {
	if p.cfg.HTTPClient != nil {
		return p.cfg.HTTPClient
	}
	return http.DefaultClient
}

// lazySource builds its upstream on first use, so reading a profile's
// secret is paid only by a refresh. Only a success is kept: a keyring that
// timed out, or a secret stored by a later `login`, is tried again by the
// next refresh of a long-lived process (the plugin).
type lazySource struct {
	build func() (auth.ContextSource, error)

	mu  sync.Mutex
	src auth.ContextSource
}

func (l *lazySource) Token() (*oauth2.Token, error) { return l.TokenContext(context.Background()) }

func (l *lazySource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	l.mu.Lock()
	if l.src == nil {
		src, err := l.build()
		if err != nil {
			l.mu.Unlock()
			return nil, err
		}
		l.src = src
	}
	src := l.src
	l.mu.Unlock()
	return src.TokenContext(ctx)
}

// noZero maps a zero buffer to keyring.CacheConfig's "no buffer" (negative), since
// there zero means the default.
func noZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
