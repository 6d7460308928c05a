// Command dt-credential-helper-plugin serves the hashicorp/go-plugin gRPC
// token provider. Hosts never run it themselves: they launch
// dt-credential-helper, which hands over to this program, installed next to
// it, with the same arguments and environment (an execve on Unix, so the
// host's process is this one). It lives apart so that go-plugin, gRPC and
// protobuf, whose package initialisers run in every process that links
// them, are not paid for by each kubectl, git and docker call of
// dt-credential-helper. For the same reason it reads Vault for the helper:
// `dt-credential-helper-plugin vault-token`, run by the helper as a child
// on a cache miss of a Vault account (package vaultproc), so that the
// helper does not link Vault's client either; and `vault-identity`, run by
// `dt-credential-helper doctor` to ask Vault who a Vault account reads as.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/buildinfo"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/internal/tokens"
	"github.com/dt-credential-helper/dt-credential-helper/internal/vaultproc"
	"github.com/dt-credential-helper/dt-credential-helper/plugin"
)

const prog = "dt-credential-helper-plugin"

func main() {
	if err := run(os.Args[1:], os.Getenv); err != nil {
		// Stdout is go-plugin's handshake channel: errors go to stderr,
		// where the host logs them, as one printable line.
		fmt.Fprintf(os.Stderr, "%s: %s\n", prog, auth.OneLine(err.Error()))
		os.Exit(1)
	}
}

// run serves the plugin for the command line dt-credential-helper was given:
// none, or "plugin" and the token flags. dt-credential-helper has checked it
// already (help, --secret, bad values, the cookie) before handing over; this
// program still refuses what it cannot serve, for whoever runs it by hand.
// `version [-o json]` prints its build (dt-credential-helper's version and
// doctor read it).
func run(args []string, getenv func(string) string) error {
	if len(args) == 1 && args[0] == vaultproc.Subcommand {
		// dt-credential-helper reading a Vault path on a cache miss; it
		// bounds this process's life and kills it at its deadline.
		return vaultToken(context.Background(), os.Stdout, os.Stderr, getenv)
	}
	if len(args) == 1 && args[0] == vaultproc.IdentitySubcommand {
		// dt-credential-helper doctor asking who a Vault account reads as.
		return vaultIdentity(context.Background(), os.Stdout, os.Stderr, getenv)
	}
	if len(args) > 0 && args[0] == "version" {
		return runVersion(os.Stdout, args[1:])
	}
	if len(args) > 0 && args[0] == "plugin" {
		args = args[1:]
	}
	var f tokens.Flags
	fs := flag.NewFlagSet("plugin", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.RegisterServing(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errors.New("run 'dt-credential-helper plugin --help' for the flags; this program is started by dt-credential-helper")
		}
		return fmt.Errorf("plugin: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("plugin: unexpected argument %q", fs.Arg(0))
	}
	if !plugin.IsPluginProcess(getenv) {
		return plugin.ErrNotPluginProcess
	}
	level, slogLevel := hclog.Info, slog.LevelInfo
	if f.Verbose {
		level, slogLevel = hclog.Debug, slog.LevelDebug
	}
	// Bind the real stderr before Serve redirects os.Stderr; stdout carries
	// go-plugin's handshake and nothing else.
	logger := plugin.NewLogger(level)
	// The helper that handed over names its build: a different one may
	// share the cache or the command line differently. The host's log is
	// where whoever runs the host looks.
	if warning := buildinfo.HandOverMismatch(getenv, build()); warning != "" {
		logger.Warn(warning)
	}
	// The cache's steps go to the host's log too, at their own levels. An
	// empty token to InvalidateToken drops whatever is cached: a host that
	// lost track of its token can still make the next GetToken fetch anew.
	cfg, err := f.Config(getenv, newLog(os.Stderr, slogLevel))
	if err != nil {
		return err
	}
	// The wiring: the profiles repository (followed: the plugin lives
	// through logins, logouts and rotations), the token sources over it,
	// and the plugin serving them, their errors classified by classify and
	// their messages made printable (printable.go).
	cfg.VaultUpstream = vaultUpstream(cfg.Log)
	profiles := profile.NewRepository(getenv, cfg.KeyringTimeout, cfg.Log)
	profiles.FollowChanges()
	sources := tokens.New(cfg, profiles)
	return plugin.Serve(printableTokens{sources}, classify, logger, plugin.WithRefreshBuffer(cfg.RefreshBuffer))
}
