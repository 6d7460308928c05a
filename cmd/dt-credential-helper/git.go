package main

import (
	"context"

	"github.com/dt-credential-helper/dt-credential-helper/internal/gitcred"
)

// gitHelperName is the name the binary answers to as a git credential
// helper.
const gitHelperName = "git-credential-dt"

// gitActions are the git credential helper's actions.
const gitActions = "get|store|erase"

// gitLine is git's command line.
type gitLine struct{ tokenFlags }

func (l *gitLine) flags(e env) *flagSet {
	fs := newFlagSet(e, "git", "git [FLAGS] "+gitActions+"   (or as "+gitHelperName+")")
	l.register(fs)
	fs.operands = gitActions
	return fs
}

// runGit speaks the git credential helper protocol: the host of git's
// request picks the profile (hostSet), whose token sources answer it.
func runGit(ctx context.Context, e env, args []string) error {
	var tf gitLine
	fs := tf.flags(e)
	if err := parse(fs, args, true); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("git: want one action (get, store or erase), got %d arguments", fs.NArg())
	}
	log := newLogger(e.stderr, tf.Verbose)
	set, tokens, err := tf.served(e, log)
	if err != nil {
		return err
	}
	// --timeout bounds a refresh inside the cache. A host that gets no
	// token is explained at Info level: only under --verbose, since git
	// wants silence.
	return gitcred.Handle(ctx, fs.Arg(0), e.stdin, e.stdout, set, tokens, log)
}
