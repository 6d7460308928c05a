package main

import (
	"context"
	"errors"
	"flag"

	"github.com/dt-credential-helper/dt-credential-helper/internal/dockercred"
)

// dockerHelperName is the name the binary answers to as a docker
// credential helper.
const dockerHelperName = dockercred.Name

// dockerActions are the docker credential helper's actions.
const dockerActions = "get|store|erase|list|version"

// dockerLine is docker's command line.
type dockerLine struct{ tokenFlags }

func (l *dockerLine) flags(e env) *flagSet {
	fs := newFlagSet(e, "docker", "docker [FLAGS] "+dockerActions+"   (or as "+dockerHelperName+")")
	l.register(fs)
	fs.operands = dockerActions
	return fs
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
	var tf dockerLine
	fs := tf.flags(e)
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
	set, tokens, err := tf.served(e, log)
	if err != nil {
		return fail(err)
	}
	// --timeout bounds a refresh inside the cache. Run has written its
	// errors to stdout already.
	if code := dockercred.Run(ctx, fs.Arg(0), e.stdin, e.stdout, set, tokens, v, log); code != 0 {
		return &exitStatus{code: exitFailure}
	}
	return nil
}
