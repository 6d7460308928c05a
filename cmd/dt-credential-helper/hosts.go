package main

import (
	"context"
	"log/slog"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/internal/hosts"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/internal/tokens"
)

// served returns what the git and docker helpers serve: the hosts that get
// tokens, each routed to a profile (hostSet), and the token sources the
// flags and the environment describe, as the protocols' hosts.Tokens.
func (tf *tokenFlags) served(e env, log *slog.Logger) (*hosts.Set, hosts.Tokens, error) {
	cfg, err := tf.config(e, log)
	if err != nil {
		return nil, nil, err
	}
	profiles := profile.NewRepository(e.getenv, cfg.KeyringTimeout, log)
	set, err := hostSet(e, profiles)
	if err != nil {
		return nil, nil, err
	}
	return set, helperTokens{tokens.New(cfg, profiles), tf.forceRefresh}, nil
}

// helperTokens is the token sources as hosts.Tokens, with --force-refresh.
type helperTokens struct {
	sources *tokens.Sources
	refresh bool
}

func (h helperTokens) Token(ctx context.Context, profile string) (*oauth2.Token, error) {
	return h.sources.Token(ctx, profile, h.refresh)
}

func (h helperTokens) Invalidate(ctx context.Context, profile, token string) error {
	return h.sources.Invalidate(ctx, profile, token)
}

// hostSet is each profile's own hosts, then the DT hosts and
// DT_CREDENTIAL_HOSTS for the default profile, in that order of precedence.
func hostSet(e env, profiles *profile.Repository) (*hosts.Set, error) {
	files, err := profiles.File()
	if err != nil {
		return nil, err
	}
	var routes []hosts.Route
	for _, name := range files.Names() {
		r, err := hosts.ParseEntries(files.Profiles[name].Hosts, name)
		if err != nil {
			return nil, usagef("profile %q: %v", name, err)
		}
		routes = append(routes, r...)
	}
	set, err := hosts.Default(e.getenv(hosts.EnvHosts), routes...)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return set, nil
}
