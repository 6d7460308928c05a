package main

import (
	"context"
	"errors"
	"flag"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/internal/dockercred"
	"github.com/dt-credential-helper/dt-credential-helper/internal/gitcred"
	"github.com/dt-credential-helper/dt-credential-helper/internal/hosts"
	"github.com/dt-credential-helper/dt-credential-helper/internal/provider"
)

// The names the binary answers to as a git or docker credential helper.
const (
	gitHelperName    = "git-credential-dt"
	dockerHelperName = "docker-credential-dt"
)

// helperTokens is the provider as the git and docker protocols' Tokens
// (gitcred.Tokens, dockercred.Tokens).
type helperTokens struct {
	p       *provider.Provider
	refresh bool
}

func (h helperTokens) Token(ctx context.Context, profile string) (*oauth2.Token, error) {
	return h.p.Token(ctx, profile, h.refresh)
}

func (h helperTokens) Invalidate(ctx context.Context, profile, token string) error {
	return h.p.Invalidate(ctx, profile, token)
}

// hostSet is each profile's own hosts, then the DT hosts and
// DT_CREDENTIAL_HOSTS for the default profile, in that order of precedence.
func hostSet(e env, p *provider.Provider) (*hosts.Set, error) {
	files, err := p.Profiles()
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
	p, err := tf.provider(e, log)
	if err != nil {
		return err
	}
	set, err := hostSet(e, p)
	if err != nil {
		return err
	}
	// --timeout bounds a refresh inside the provider. A host that gets no
	// token is explained at Info level: only under --verbose, since git
	// wants silence.
	return gitcred.Handle(ctx, fs.Arg(0), e.stdin, e.stdout, set, helperTokens{p, tf.forceRefresh}, log)
}

// runDocker speaks the docker credential helper protocol, whose errors go to
// stdout with exit status 1: a bad command line too, since docker reads a
// helper's stdout, not its stderr. Only --help, which is no error, exits 0.
func runDocker(ctx context.Context, e env, args []string) error {
	var tf tokenFlags
	fs := newFlagSet(e, "docker", "docker [FLAGS] get|store|erase|list|version   (or as "+dockerHelperName+")")
	tf.register(fs)
	if err := parse(fs, args, true); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		dockercred.WriteError(e.stdout, err)
		return errSilentFailure
	}
	if fs.NArg() != 1 {
		dockercred.WriteError(e.stdout, usagef("docker: want one action (get, store, erase, list or version), got %d arguments", fs.NArg()))
		return errSilentFailure
	}
	v, _ := buildInfo()
	log := newLogger(e.stderr, tf.Verbose)
	p, err := tf.provider(e, log)
	if err != nil {
		dockercred.WriteError(e.stdout, err)
		return errSilentFailure
	}
	set, err := hostSet(e, p)
	if err != nil {
		dockercred.WriteError(e.stdout, err)
		return errSilentFailure
	}
	// --timeout bounds a refresh inside the provider.
	if code := dockercred.Run(ctx, fs.Arg(0), e.stdin, e.stdout, set, helperTokens{p, tf.forceRefresh}, v, log); code != 0 {
		return errSilentFailure
	}
	return nil
}

// errSilentFailure exits 1 without a stderr line: the error was already
// reported where the protocol wants it.
var errSilentFailure = &silentError{}

type silentError struct{}

func (*silentError) Error() string { return "" }
