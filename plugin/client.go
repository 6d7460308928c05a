package plugin

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// DefaultBinary is the plugin binary Launch starts when LaunchConfig.Path is
// empty, looked up on PATH.
const DefaultBinary = "dt-credential-helper"

// LaunchConfig says how a host starts the plugin process.
type LaunchConfig struct {
	// Path is the plugin binary; empty means DefaultBinary on PATH.
	Path string
	// Args are its arguments; nil means ["plugin"].
	Args []string
	// Env is added to the host's environment for the plugin (KEY=value,
	// winning over the host's values), e.g. DT_PROFILE or DT_CACHE_DIR.
	Env []string
	// SecureConfig, when set, makes Launch refuse a binary whose checksum
	// differs.
	SecureConfig *goplugin.SecureConfig
	// Logger receives go-plugin's messages and the plugin's own logs at
	// their levels; nil means go-plugin's default (stderr).
	Logger hclog.Logger
	// DisableAutoMTLS turns off the per-launch mutual TLS between host and
	// plugin, which is on by default.
	DisableAutoMTLS bool
	// StartTimeout bounds the plugin's start; zero means go-plugin's
	// default (one minute).
	StartTimeout time.Duration
}

// Launch starts the plugin and returns its token provider and a func that
// stops the process; call it when done (it is safe to call twice). The
// provider also has a Pid() int method giving the plugin process's id.
func Launch(cfg LaunchConfig) (TokenProvider, func(), error) {
	path := cfg.Path
	if path == "" {
		path = DefaultBinary
	}
	args := cfg.Args
	if args == nil {
		args = []string{"plugin"}
	}
	cmd := exec.Command(path, args...)
	// go-plugin would append the host's environment after ours, so that the
	// host's value would win; add it first ourselves instead.
	cmd.Env = append(os.Environ(), cfg.Env...)
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          PluginMap,
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		SecureConfig:     cfg.SecureConfig,
		Logger:           cfg.Logger,
		AutoMTLS:         !cfg.DisableAutoMTLS,
		StartTimeout:     cfg.StartTimeout,
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, nil, fmt.Errorf("starting token provider plugin %s: %w", path, err)
	}
	raw, err := rpc.Dispense(Name)
	if err != nil {
		client.Kill()
		return nil, nil, fmt.Errorf("dispensing %s from plugin %s: %w", Name, path, err)
	}
	tp, ok := raw.(TokenProvider)
	if !ok {
		client.Kill()
		return nil, nil, fmt.Errorf("plugin %s dispensed %T, not a token provider", path, raw)
	}
	return &launched{tp: tp, client: client, rpc: rpc}, client.Kill, nil
}

// launched tells a plugin process that died from a transient failure: both
// reach the host as gRPC Unavailable, but only one passes by waiting.
type launched struct {
	tp     TokenProvider
	client *goplugin.Client
	rpc    goplugin.ClientProtocol
}

func (l *launched) GetToken(ctx context.Context, profile string, forceRefresh bool) (*oauth2.Token, error) {
	tok, err := l.tp.GetToken(ctx, profile, forceRefresh)
	return tok, l.check(err)
}

func (l *launched) InvalidateToken(ctx context.Context, profile, accessToken string) error {
	return l.check(l.tp.InvalidateToken(ctx, profile, accessToken))
}

func (l *launched) WatchToken(ctx context.Context, profile string) iter.Seq2[*oauth2.Token, error] {
	return func(yield func(*oauth2.Token, error) bool) {
		for tok, err := range l.tp.WatchToken(ctx, profile) {
			if !yield(tok, l.check(err)) {
				return
			}
		}
	}
}

// Pid returns the plugin process's id, for a host that watches or signals
// it; reach it with p.(interface{ Pid() int }).
func (l *launched) Pid() int {
	if rc := l.client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

func (l *launched) check(err error) error {
	if !errors.Is(err, ErrUnavailable) {
		return err
	}
	// Ping goes over the same connection: it fails at once when the process
	// is gone, where waiting for go-plugin to reap it could race.
	if l.client.Exited() || l.rpc.Ping() != nil {
		return fmt.Errorf("%w (%w)", ErrExited, err)
	}
	return err
}

// Source is an oauth2.TokenSource over a TokenProvider for one profile. It
// reuses a token until it is due by bearer.Fresh with the default buffer,
// and Invalidate drops a token the API refused both here and in the
// plugin's cache. The plugin's cache refreshes by the user's buffer
// (--refresh-buffer), which the protocol does not carry: with the default,
// the Source asks again exactly when the cache has a new token; with a
// shorter one the cache serves the same token again, and the Source then
// reuses it for reaskEvery before asking again; with a longer one it keeps
// the old token, still valid, after the cache has refreshed, until the
// default buffer.
type Source struct {
	ctx     context.Context
	p       TokenProvider
	profile string
	now     func() time.Time

	mu  sync.Mutex
	tok *oauth2.Token
	// life is tok's lifetime as far as the host can tell (see lifetimeOf).
	life time.Duration
	// reuseUntil, once tok is due, is until when to reuse it because the
	// plugin served it again.
	reuseUntil time.Time
}

// reaskEvery is how long a Source reuses a token the plugin served again
// although it is due by the default buffer. Reusing it until its expiry
// would overrun the user's buffer, which the cache refreshes by at some
// unknown point before; asking again on every call would cost an RPC per
// request. A second bounds both: the host runs at most a second behind the
// cache's refresh, at most one RPC a second while the cache keeps the token.
const reaskEvery = time.Second

// TokenSource returns profile's token source; ctx bounds every call to the
// plugin. Put it in an oauth2.Transport and call Invalidate on a 401.
// oauth2.NewClient works too, but wraps it in a ReuseTokenSource that keeps
// an invalidated token until its expiry.
func TokenSource(ctx context.Context, p TokenProvider, profile string) *Source {
	return &Source{ctx: ctx, p: p, profile: profile, now: time.Now}
}

// Token returns the reused token, or a new one from the plugin.
func (s *Source) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.now(); s.tok != nil && (s.tok.Expiry.IsZero() || bearer.Fresh(s.tok.Expiry, s.life, 0, now) || now.Before(s.reuseUntil)) {
		return s.tok, nil
	}
	tok, err := s.p.GetToken(s.ctx, s.profile, false)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if s.tok != nil && tok.AccessToken == s.tok.AccessToken && tok.Expiry.Equal(s.tok.Expiry) {
		// Served again: its lifetime is still the one first seen, which
		// what it has left now would understate.
		s.reuseUntil = now.Add(reaskEvery)
		if tok.Expiry.Before(s.reuseUntil) {
			s.reuseUntil = tok.Expiry
		}
		return s.tok, nil
	}
	s.tok, s.life, s.reuseUntil = tok, lifetimeOf(tok, now), time.Time{}
	return tok, nil
}

// lifetimeOf is how long tok was granted for, which cuts the refresh
// buffer of a short-lived token (bearer.Buffer): its ExpiresIn if the
// provider filled it in (over gRPC it is always zero: the protocol carries
// only the expiry), or else what it had left when it was received at
// received. That is never longer than the real lifetime, so a token is
// never thought due before a cache with the default buffer would refresh
// it; but a token first received with less than twice the default buffer
// left may be kept a little after that cache has refreshed (it is still
// valid).
func lifetimeOf(tok *oauth2.Token, received time.Time) time.Duration {
	if tok.ExpiresIn > 0 {
		return time.Duration(tok.ExpiresIn) * time.Second
	}
	return tok.Expiry.Sub(received)
}

// Invalidate forgets accessToken and has the plugin drop it from its cache,
// so the next Token call gets a new one. Call it when the API answered 401
// to a request made with accessToken.
func (s *Source) Invalidate(accessToken string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && s.tok.AccessToken == accessToken {
		s.tok = nil
	}
	return s.p.InvalidateToken(s.ctx, s.profile, accessToken)
}
