package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
)

// maxSecret bounds a secret read from stdin.
const maxSecret = 64 << 10

// readSecret reads login's secret: at a terminal from a no-echo prompt;
// otherwise from stdin (one line end at its end removed) and, when stdin
// holds none (empty, or a blank line, as a CI job's stdin is), from
// DT_SERVICE_ACCOUNT_SECRET, where DT's own examples keep it. Data on stdin
// wins over the variable: it was handed to this command, the variable may
// only have been inherited.
func readSecret(e env) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, "Service account secret: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("login: reading the secret: %w", err)
		}
		return validSecret(string(b), "at the prompt")
	}
	b, err := io.ReadAll(io.LimitReader(e.stdin, maxSecret+1))
	if err != nil {
		return "", fmt.Errorf("login: reading the secret from stdin: %w", err)
	}
	if len(b) > maxSecret {
		return "", usagef("login: the secret on stdin is longer than %d bytes", maxSecret)
	}
	if _, err := auth.CleanSecret(string(b)); errors.Is(err, auth.ErrNoSecret) {
		if s := e.getenv(auth.EnvSecret); s != "" {
			return validSecret(s, "in "+auth.EnvSecret)
		}
		return "", usagef("login: no secret given: pipe it on stdin, set %s (read when stdin is empty), or run login at a terminal to type it at a prompt", auth.EnvSecret)
	}
	return validSecret(string(b), "on stdin")
}

// validSecret applies auth.CleanSecret, the rule the Vault engine applies
// too, to the secret given where.
func validSecret(s, where string) (string, error) {
	s, err := auth.CleanSecret(s)
	if errors.Is(err, auth.ErrNoSecret) {
		return "", usagef("login: no secret given %s", where)
	}
	if err != nil {
		return "", usagef("login: the secret %s: %v", where, err)
	}
	return s, nil
}
