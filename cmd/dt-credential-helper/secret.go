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

// readSecret reads the secret from a no-echo prompt on a terminal, else from
// all of stdin (one line end at its end removed).
func readSecret(e env) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, "Service account secret: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("login: reading the secret: %w", err)
		}
		return validSecret(string(b))
	}
	b, err := io.ReadAll(io.LimitReader(e.stdin, maxSecret+1))
	if err != nil {
		return "", fmt.Errorf("login: reading the secret from stdin: %w", err)
	}
	if len(b) > maxSecret {
		return "", usagef("login: the secret on stdin is longer than %d bytes", maxSecret)
	}
	return validSecret(string(b))
}

// validSecret applies auth.CleanSecret, the rule the Vault engine applies too.
func validSecret(s string) (string, error) {
	s, err := auth.CleanSecret(s)
	if errors.Is(err, auth.ErrNoSecret) {
		return "", usagef("login: no secret given: pipe it on stdin or type it at the prompt")
	}
	if err != nil {
		return "", usagef("login: %v", err)
	}
	return s, nil
}
