package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"syscall"
	"time"

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

// helperTokens adapts the provider to the git and docker protocols.
type helperTokens struct {
	p       *provider.Provider
	refresh bool
}

func (h helperTokens) Token(ctx context.Context, profile string) (*oauth2.Token, error) {
	return h.p.Token(ctx, profile, h.refresh)
}

func (h helperTokens) Invalidate(ctx context.Context, profile, token string) error {
	src, err := h.p.Source(profile)
	if err != nil {
		return err
	}
	_, err = src.Invalidate(ctx, token)
	return err
}

// hostSet is the DT hosts, DT_CREDENTIAL_HOSTS, and each profile's own hosts,
// in that order of precedence.
func hostSet(e env, p *provider.Provider) (*hosts.Set, error) {
	routes := hosts.DefaultRoutes()
	extra, err := hosts.ParseList(e.getenv(hosts.EnvHosts), "")
	if err != nil {
		return nil, usagef("%s: %v", hosts.EnvHosts, err)
	}
	routes = append(routes, extra...)
	files, err := p.Profiles()
	if err != nil {
		return nil, err
	}
	for _, name := range files.Names() {
		r, err := hosts.ParseEntries(files.Profiles[name].Hosts, name)
		if err != nil {
			return nil, usagef("profile %q: %v", name, err)
		}
		routes = append(routes, r...)
	}
	return hosts.NewSet(routes)
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
	p, err := tf.provider(e)
	if err != nil {
		return err
	}
	set, err := hostSet(e, p)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, tf.timeout)
	defer cancel()
	return gitcred.Handle(ctx, fs.Arg(0), e.stdin, e.stdout, set, helperTokens{p, tf.forceRefresh})
}

// runDocker speaks the docker credential helper protocol, whose errors go to
// stdout with exit status 1.
func runDocker(ctx context.Context, e env, args []string) error {
	var tf tokenFlags
	fs := newFlagSet(e, "docker", "docker [FLAGS] get|store|erase|list|version   (or as "+dockerHelperName+")")
	tf.register(fs)
	if err := parse(fs, args, true); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("docker: want one action (get, store, erase, list or version), got %d arguments", fs.NArg())
	}
	v, _ := buildInfo()
	p, err := tf.provider(e)
	if err != nil {
		dockercred.WriteError(e.stdout, err)
		return errSilentFailure
	}
	set, err := hostSet(e, p)
	if err != nil {
		dockercred.WriteError(e.stdout, err)
		return errSilentFailure
	}
	ctx, cancel := context.WithTimeout(ctx, tf.timeout)
	defer cancel()
	if code := dockercred.Run(ctx, fs.Arg(0), e.stdin, e.stdout, set, helperTokens{p, tf.forceRefresh}, v); code != 0 {
		return errSilentFailure
	}
	return nil
}

// errSilentFailure exits 1 without a stderr line: the error was already
// reported where the protocol wants it.
var errSilentFailure = &silentError{}

type silentError struct{}

func (*silentError) Error() string { return "" }

// forwarded are the signals exec passes on to its command.
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH}

// runExec runs a command with DT_ACCESS_TOKEN in its environment, passing
// stdio and signals through and exiting with the command's status.
func runExec(ctx context.Context, e env, args []string) error {
	var tf tokenFlags
	fs := newFlagSet(e, "exec", "exec [FLAGS] -- COMMAND [ARGS...]")
	tf.register(fs)
	dash := slices.Index(args, "--")
	if dash < 0 {
		if slices.Contains(args, "-h") || slices.Contains(args, "--help") || slices.Contains(args, "-help") {
			return parse(fs, args, true)
		}
		return usagef("exec: put the command after --: exec [FLAGS] -- COMMAND [ARGS...]")
	}
	if err := parse(fs, args[:dash], false); err != nil {
		return err
	}
	argv := args[dash+1:]
	if len(argv) == 0 {
		return usagef("exec: no command after --")
	}
	p, err := tf.provider(e)
	if err != nil {
		return err
	}
	tctx, cancel := context.WithTimeout(ctx, tf.timeout)
	tok, err := p.Token(tctx, "", tf.forceRefresh)
	cancel()
	if err != nil {
		return err
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return usagef("exec: %v", err)
	}
	// Not exec.CommandContext: the command's lifetime is its own; our signals
	// are forwarded to it instead.
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = append(os.Environ(),
		"DT_ACCESS_TOKEN="+tok.AccessToken,
		"DT_ACCESS_TOKEN_EXPIRES_AT="+tok.Expiry.UTC().Format(time.RFC3339))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec: starting %s: %w", argv[0], err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	if err == nil {
		return nil
	}
	if ee, ok := err.(*exec.ExitError); ok {
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return &exitStatus{code: 128 + int(ws.Signal())}
		}
		return &exitStatus{code: ee.ExitCode()}
	}
	return fmt.Errorf("exec: %s: %w", argv[0], err)
}

// exitStatus makes the program exit with a command's status, silently.
type exitStatus struct{ code int }

func (e *exitStatus) Error() string { return "" }
