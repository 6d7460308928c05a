package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
)

// exitNotFound is the shell's status for a command that cannot be found.
const exitNotFound = 127

// runExec runs a command with DT_ACCESS_TOKEN in its environment, passing
// stdio and signals through and exiting with the command's status (128+N
// when a signal N killed it, as shells report it).
func runExec(ctx context.Context, e env, args []string) error {
	var tf tokenFlags
	fs := newFlagSet(e, "exec", "exec [FLAGS] -- COMMAND [ARGS...]")
	fs.about = `Runs COMMAND with a valid access token in DT_ACCESS_TOKEN and its expiry
in DT_ACCESS_TOKEN_EXPIRES_AT (RFC 3339, UTC); the token is fetched once, at
the start. The command gets the rest of the environment, except
` + auth.EnvSecret + `: it is handed a token, not the service account.
stdin, stdout, stderr and signals pass through; the exit status is the
command's (128+N when signal N killed it, 127 when it cannot be found).`
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
	// Find the command before fetching a token for it.
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintf(e.stderr, "%s: exec: %v\n", prog, err)
		return &exitStatus{code: exitNotFound}
	}
	p, err := tf.provider(e, nil)
	if err != nil {
		return err
	}
	tok, err := p.Token(ctx, "", tf.forceRefresh) // --timeout bounds a refresh
	if err != nil {
		return err
	}
	// Not exec.CommandContext: the command's lifetime is its own; our signals
	// are forwarded to it instead.
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = append(childEnv(os.Environ()),
		"DT_ACCESS_TOKEN="+tok.AccessToken,
		"DT_ACCESS_TOKEN_EXPIRES_AT="+tok.Expiry.UTC().Format(time.RFC3339))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec: starting %s: %w", argv[0], err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				// A terminal already sent its signals (Ctrl-C, a resize) to
				// the whole foreground process group, the command included:
				// passing them on again would deliver them twice.
				if !(fromTerminal(s) && inForeground()) {
					_ = cmd.Process.Signal(s)
				}
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
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &exitStatus{code: exitCode(ee)}
	}
	return fmt.Errorf("exec: %s: %w", argv[0], err)
}

// childEnv is environ without the service account secret. The command is
// given a token that expires; the secret, which mints tokens for as long as
// the key lives, stays with us. The key id and email are not secret and
// stay, as does everything else.
func childEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		// Windows matches variable names case-insensitively.
		if name == auth.EnvSecret || runtime.GOOS == "windows" && strings.EqualFold(name, auth.EnvSecret) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// exitStatus makes the program exit with a command's status, silently.
type exitStatus struct{ code int }

func (e *exitStatus) Error() string { return "" }
