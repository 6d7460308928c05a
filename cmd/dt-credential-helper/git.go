package main

import (
	"context"
	"fmt"

	"github.com/dt-credential-helper/dt-credential-helper/internal/gitcred"
)

// gitHelperName is the name the binary answers to as a git credential
// helper.
const gitHelperName = "git-credential-dt"

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
		// Exit 1, as the docker helper does (its protocol wants 1 for
		// every error); git gives a helper's status no meaning beyond
		// "failed", so the two helpers agree on one code for a call made
		// wrong.
		return fmt.Errorf("git: want one action (get, store or erase), got %d arguments; run '%s git --help'", fs.NArg(), prog)
	}
	log := newLogger(e.stderr, tf.Verbose)
	set, tokens, err := tf.served(e, log)
	if err != nil {
		return err
	}
	// --timeout bounds a refresh inside the cache. A host that gets no
	// token is explained at Info level: only under --verbose, since git
	// wants silence.
	return tf.explain(gitcred.Handle(ctx, fs.Arg(0), e.stdin, e.stdout, set, tokens, log))
}
