//go:build !noplugin

package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/dt-credential-helper/dt-credential-helper/internal/provider"
	"github.com/dt-credential-helper/dt-credential-helper/plugin"
)

// pluginProvider adapts the provider to what the plugin serves.
type pluginProvider struct{ *provider.Provider }

func (p pluginProvider) Invalidate(ctx context.Context, profile, token string) error {
	src, err := p.Source(profile)
	if err != nil {
		return err
	}
	// An empty token means "whatever is cached": a host that lost track of
	// its token can still make the next GetToken fetch a new one.
	_, err = src.Invalidate(ctx, token)
	return err
}

// runPlugin serves the gRPC token provider to a go-plugin host. With the
// magic cookie set, the arguments after "plugin" are the usual token flags.
func runPlugin(_ context.Context, e env, args []string) error {
	var tf tokenFlags
	fs := newFlagSet(e, "plugin", "plugin [FLAGS]   (run by a go-plugin host, which sets "+plugin.Handshake.MagicCookieKey+")")
	tf.register(fs)
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if !plugin.IsPluginProcess(e.getenv) {
		return plugin.ErrNotPluginProcess
	}
	level, slogLevel := hclog.Info, slog.LevelInfo
	if tf.verbose {
		level, slogLevel = hclog.Debug, slog.LevelDebug
	}
	// Bind the real stderr before Serve redirects os.Stderr; stdout carries
	// go-plugin's handshake and nothing else.
	logger := plugin.NewLogger(level)
	p, err := tf.provider(e)
	if err != nil {
		return err
	}
	p = provider.New(p.Config(func(c *provider.Config) { c.Log = slog.New(plugin.SlogHandler(os.Stderr, slogLevel)) }))
	return plugin.Serve(pluginProvider{p}, logger)
}

// isPluginProcess reports whether a go-plugin host started this process.
func isPluginProcess(getenv func(string) string) bool { return plugin.IsPluginProcess(getenv) }
