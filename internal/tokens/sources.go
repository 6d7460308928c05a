// Package tokens builds the cached token source of each profile: it turns
// the command line's flags, the environment, the profiles repository
// (package profile) and a Vault path into a keyring.Cache over the upstream
// that mints the tokens, the DT exchange (package auth) or a Vault read
// (the upstream Config.VaultUpstream makes). Every mode of the program that serves tokens (the
// token command, exec, git, docker, the plugin) asks Sources; none
// re-implements refresh logic. login, logout and status do not build
// sources: they use the profiles repository, keyring.Forget and the cache
// OpenLocation opens here.
//
// A cached call is Sources.Token → keyring.Cache.TokenContext, which reads
// the store and returns. A miss goes on to the upstream: for a profile,
// profileExchange reads the secret through the repository on its first
// refresh and then asks auth's source for a token, which the cache stores.
package tokens

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
	"golang.org/x/oauth2"
)

// Config is what the command line decided.
type Config struct {
	// Profile is the default profile ("" = flags and environment only).
	Profile  string
	Settings auth.Settings
	// Cache is the cache mode (auto, keyring, file, none).
	Cache keyring.Mode
	// RefreshBuffer: a cached token with less than this left is refreshed,
	// by package bearer's rule and convention (zero: the default buffer;
	// bearer.NoBuffer: none).
	RefreshBuffer time.Duration
	// Timeout bounds a refresh: the lock wait, the token request with its
	// retries, and the write. Serving a cached token is not timed.
	Timeout time.Duration
	Getenv  func(string) string
	Log     *slog.Logger
	// KeyringTimeout bounds each keyring call; zero means the store's default.
	KeyringTimeout time.Duration
	// Vault is the Vault path and login the flags give (--vault-path and
	// the like). Without a profile, these and then the DT_VAULT_*
	// variables name the Vault path to read tokens from instead of a DT
	// account; for a Vault profile they override its fields.
	Vault vaultenv.Reference
	// VaultUpstream makes the upstream that reads a Vault account's tokens,
	// chosen by the program: the plugin's program reads in process (a
	// long-running server keeps its Vault login in memory), the helper
	// runs that program as a child so that it does not link Vault's
	// client. Its errors say what a DT account's do: Misconfigured() (see
	// package misconfig) for a configuration error, Temporary() for a
	// failure that may pass.
	// nil: Vault paths are refused.
	VaultUpstream func(vaultenv.Reference) (keyring.Upstream, error)
	// Waiting, when set, is told as a DT token request starts, which
	// happens on a miss only, what it asks (the token endpoint), under the
	// request's context; it returns the function to call when the answer
	// is in. The program says at a terminal what a slow request waits
	// for. A function of the program rather than a closure, so that
	// building the sources on a cached call allocates nothing for it.
	Waiting func(ctx context.Context, what string) (done func())
}

func (c Config) withDefaults() Config {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Timeout == 0 {
		c.Timeout = auth.DefaultTimeout
	}
	if c.Cache == "" {
		c.Cache = keyring.ModeAuto
	}
	return c
}

// Sources builds and remembers one cached token source per profile.
type Sources struct {
	cfg      Config
	profiles *profile.Repository

	mu       sync.Mutex
	location *keyring.Location // opened by the first source
	sources  map[string]source
}

// source is a profile's cached token source, with what it was built for.
type source struct {
	cache   *keyring.Cache
	account Account
}

// current reports whether src still serves the caller as it is now: a
// Vault account's identity comes from files that may change while the
// process lives (~/.vault-token after a `vault login`, the JWT file), so it
// is worked out again, and a source built for another one is not used; a
// DT account's (the environment's secret, or a profile's, whose changes
// the profiles file shows) cannot change.
func (s *Sources) current(src source) bool {
	a := src.account
	if a.Vault == nil {
		return true
	}
	return vaultIdentity(*a.Vault, s.cfg.Getenv, a.Cache.Key(), time.Now()) == a.Cache.Identity
}

// New returns the token sources of cfg, whose profiles are in profiles.
func New(cfg Config, profiles *profile.Repository) *Sources {
	return &Sources{cfg: cfg.withDefaults(), profiles: profiles, sources: map[string]source{}}
}

// Token returns a valid token for profile name ("" = the configured default
// profile, or flags and environment when there is none), refreshing it
// first when force is set.
func (s *Sources) Token(ctx context.Context, name string, force bool) (*oauth2.Token, error) {
	src, err := s.Source(name)
	if err != nil {
		return nil, err
	}
	if force {
		return src.Refresh(ctx)
	}
	return src.TokenContext(ctx)
}

// Invalidate drops profile name's cached token if it is token (any token
// when token is empty): what git and docker erase and the plugin's
// InvalidateToken ask for.
func (s *Sources) Invalidate(ctx context.Context, name, token string) error {
	src, err := s.Source(name)
	if err != nil {
		return err
	}
	_, err = src.Invalidate(ctx, token)
	return err
}

// Source returns the cached token source of profile name ("" as in Token).
// A profile's secret is read only when a refresh needs it, so serving a
// cached token costs no keyring lookup for it. The sources are kept while
// the profiles file stays as it was read: a process that outlives a login,
// logout or rotate (the plugin) resolves each profile again afterwards, so
// it refreshes with the new key and serves a removed profile no more; and
// while a Vault account's identity stays the same (see current).
func (s *Sources) Source(name string) (*keyring.Cache, error) {
	name = cmp.Or(name, s.cfg.Profile)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.profiles.Stale() {
		// A login, logout or rotate since: each profile is resolved
		// again, and its secret read again at its next refresh.
		clear(s.sources)
	}
	if src, ok := s.sources[name]; ok {
		if s.current(src) {
			return src.cache, nil
		}
		delete(s.sources, name)
	}
	a, err := Resolve(s.cfg, s.profiles, name)
	if err != nil {
		return nil, err
	}
	if s.location == nil {
		loc, err := OpenLocation(s.cfg)
		if err != nil {
			return nil, err
		}
		s.location = &loc
	}
	src := keyring.NewCache(s.upstream(a), keyring.CacheConfig{
		Location: *s.location,
		Account:  a.Cache,
		Buffer:   s.cfg.RefreshBuffer,
		Timeout:  s.cfg.Timeout,
		Log:      s.cfg.Log,
	})
	if !a.Cache.Identity.None() {
		// Not kept when it proves no identity (a JWT file not there yet):
		// the next call works it out again, and once there is one, caches.
		s.sources[name] = source{cache: src, account: a}
	}
	return src, nil
}

// upstream is what mints a's tokens on a miss: a Vault read, or the DT
// exchange, whose secret comes from the environment or, for a profile,
// from the profiles repository at the first refresh.
func (s *Sources) upstream(a Account) keyring.Upstream {
	if a.vault != nil {
		return a.vault
	}
	opts := []auth.Option{auth.WithTimeout(s.cfg.Timeout), auth.WithLogger(s.cfg.Log)}
	return &profileExchange{profiles: s.profiles, profile: a.profile, creds: a.creds, opts: opts, waiting: s.cfg.Waiting}
}

// profileExchange is the DT exchange of one account. For a profile, the
// secret is read through the profiles repository at the first refresh,
// not before; only a success is kept, so a keyring that timed out, or a
// secret stored by a later `login`, is tried again by the next refresh of a
// long-lived process (the plugin). Without a profile, creds holds the
// environment's secret already.
type profileExchange struct {
	profiles *profile.Repository
	profile  string // "" = creds is complete
	creds    auth.Credentials
	opts     []auth.Option
	waiting  func(context.Context, string) func() // Config.Waiting

	mu  sync.Mutex
	src *auth.Source
}

func (x *profileExchange) Token() (*oauth2.Token, error) {
	return x.TokenContext(context.Background())
}

func (x *profileExchange) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	x.mu.Lock()
	if x.src == nil {
		creds := x.creds
		if x.profile != "" {
			secret, err := x.profiles.Secret(x.profile)
			if err != nil {
				x.mu.Unlock()
				return nil, err
			}
			creds.Secret = secret
		}
		src, err := auth.NewSource(creds, x.opts...)
		if err != nil {
			x.mu.Unlock()
			return nil, err
		}
		x.src = src
	}
	src := x.src
	x.mu.Unlock()
	if x.waiting != nil {
		defer x.waiting(ctx, x.creds.TokenEndpoint)()
	}
	return src.TokenContext(ctx)
}
