//go:build !noplugin

package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/dt-credential-helper/dt-credential-helper/plugin"
)

// runPlugin serves the gRPC token provider to a go-plugin host. With the
// magic cookie set, the arguments after "plugin" are the usual token flags.
func runPlugin(_ context.Context, e env, args []string) error {
	var tf tokenFlags
	fs := newFlagSet(e, "plugin", "plugin [FLAGS]   (run by a go-plugin host, which sets "+plugin.Handshake.MagicCookieKey+")")
	tf.registerServing(fs) // each GetToken says whether to force a refresh
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
	// The cache's steps go to the host's log too, at their own levels. An
	// empty token to InvalidateToken drops whatever is cached: a host that
	// lost track of its token can still make the next GetToken fetch anew.
	p, err := tf.provider(e, slog.New(plugin.SlogHandler(os.Stderr, slogLevel)))
	if err != nil {
		return err
	}
	return plugin.Serve(p, logger)
}

// isPluginProcess reports whether a go-plugin host started this process.
func isPluginProcess(getenv func(string) string) bool { return plugin.IsPluginProcess(getenv) }
