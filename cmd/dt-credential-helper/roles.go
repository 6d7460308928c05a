package main

import (
	"context"
	"errors"
	"flag"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/internal/dockercred"
	"github.com/dt-credential-helper/dt-credential-helper/internal/gitcred"
	"github.com/dt-credential-helper/dt-credential-helper/internal/hosts"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/internal/tokens"
)

// The names the binary answers to as a git or docker credential helper.
const (
	gitHelperName    = "git-credential-dt"
	dockerHelperName = "docker-credential-dt"
)

// helperTokens is the token sources as the git and docker protocols'
// Tokens (gitcred.Tokens, dockercred.Tokens).
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

// runGit speaks the git credential helper protocol: the host of git's
// request picks the profile (hostSet), whose token sources answer it.
func runGit(ctx context.Context, e env, args []string) error {
	var tf tokenFlags
	fs := newFlagSet(e, "git", "git [FLAGS] get|store|erase   (or as "+gitHelperName+")")
	tf.register(fs)
	if err := parse(fs, args, true); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("git: want one action (get, store or erase), got %d arguments", fs.NArg())
	}
	log := newLogger(e.stderr, tf.Verbose)
	cfg, err := tf.config(e, log)
	if err != nil {
		return err
	}
	profiles := profile.NewRepository(e.getenv, cfg.KeyringTimeout, log)
	set, err := hostSet(e, profiles)
	if err != nil {
		return err
	}
	sources := tokens.New(cfg, profiles)
	// --timeout bounds a refresh inside the cache. A host that gets no
	// token is explained at Info level: only under --verbose, since git
	// wants silence.
	return gitcred.Handle(ctx, fs.Arg(0), e.stdin, e.stdout, set, helperTokens{sources, tf.forceRefresh}, log)
}

// runDocker speaks the docker credential helper protocol, whose errors go to
// stdout with exit status 1: a bad command line too, since docker reads a
// helper's stdout, not its stderr. Only --help, which is no error, exits 0.
func runDocker(ctx context.Context, e env, args []string) error {
	// Every failure is reported on stdout, then exits 1 silently.
	fail := func(err error) error {
		dockercred.WriteError(e.stdout, err)
		return &exitStatus{code: exitFailure}
	}
	var tf tokenFlags
	fs := newFlagSet(e, "docker", "docker [FLAGS] get|store|erase|list|version   (or as "+dockerHelperName+")")
	tf.register(fs)
	if err := parse(fs, args, true); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fail(err)
	}
	if fs.NArg() != 1 {
		return fail(usagef("docker: want one action (get, store, erase, list or version), got %d arguments", fs.NArg()))
	}
	v, _ := buildInfo()
	log := newLogger(e.stderr, tf.Verbose)
	cfg, err := tf.config(e, log)
	if err != nil {
		return fail(err)
	}
	profiles := profile.NewRepository(e.getenv, cfg.KeyringTimeout, log)
	set, err := hostSet(e, profiles)
	if err != nil {
		return fail(err)
	}
	sources := tokens.New(cfg, profiles)
	// --timeout bounds a refresh inside the cache. Run has written its
	// errors to stdout already.
	if code := dockercred.Run(ctx, fs.Arg(0), e.stdin, e.stdout, set, helperTokens{sources, tf.forceRefresh}, v, log); code != 0 {
		return &exitStatus{code: exitFailure}
	}
	return nil
}
