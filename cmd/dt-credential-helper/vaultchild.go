package main

import (
	"io"

	"github.com/dt-credential-helper/dt-credential-helper/internal/sibling"
	"github.com/dt-credential-helper/dt-credential-helper/internal/vaultproc"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// vaultChild is the upstream of Vault account v: on a miss, a read by
// dt-credential-helper-plugin run as a child (package vaultproc), so that
// this program, started for every kubectl, git and docker call, does not
// link Vault's client. The child's log is shown under verbose only. Its
// errors say Misconfigured() (exit 2) and Temporary() (a cached token is
// served through them) as the child sorted them.
func vaultChild(e env, v vaultenv.Reference, verbose bool) (keyring.Upstream, error) {
	var stderr io.Writer
	if verbose {
		stderr = e.stderr
	}
	src, err := vaultproc.NewSource(vaultproc.Config{
		Vault: v,
		// Found and checked at each read: the child is handed the Vault
		// identity, and a cached call never looks for it.
		Program: func() (string, error) { return sibling.Path(pluginProg, "reading tokens from Vault") },
		Environ: e.environ(),
		Stderr:  stderr,
		Waiting: waiting,
	})
	if err != nil {
		return nil, err
	}
	return src, nil
}
