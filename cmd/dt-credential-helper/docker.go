package main

import (
	"context"
	"errors"
	"flag"

	"github.com/dt-credential-helper/dt-credential-helper/internal/buildinfo"
	"github.com/dt-credential-helper/dt-credential-helper/internal/dockercred"
)

// dockerHelperName is the name the binary answers to as a docker
// credential helper.
const dockerHelperName = dockercred.Name

// dockerAbout is what docker --help says: what docker sends and what each
// action answers.
const dockerAbout = `Answers docker's credential requests with DT tokens, as ` + dockerHelperName + `
or as "dt-credential-helper docker". docker, crane, oras, skopeo and the
like run it for the registries their config's credHelpers names it for
('configure docker' sets that), with the action as its argument and what
the action needs on stdin.

  get      stdin: a server URL. For a DT host, on stdout:
           {"ServerURL":"<as given>","Username":"oauth2accesstoken","Secret":"TOKEN"};
           for any other, "credentials not found in native keychain", exit 1.
  store    stdin: {"ServerURL","Username","Secret"} from docker login. For a
           DT host, accepted and ignored (the tokens are kept in this
           program's own cache); for any other, refused, so that a
           credsStore "dt" never loses another registry's login without a
           word: name this helper in credHelpers, for DT hosts only.
  erase    stdin: a server URL; its cached token is dropped.
  list     on stdout, a JSON map of the DT hosts' server URLs to
           oauth2accesstoken.
  version  on stdout, the version.

As the protocol wants, an error is one line on stdout, with exit 1.
DT hosts are DT's API hosts, those in DT_CREDENTIAL_HOSTS and a profile's
--hosts; --verbose says on stderr why a server got nothing.`

// dockerActions are the docker credential helper's actions.
const dockerActions = "get|store|erase|list|version"

// dockerLine is docker's command line.
type dockerLine struct{ tokenFlags }

func (l *dockerLine) flags(e env) *flagSet {
	return l.protocolFlags(e, "docker", dockerHelperName, dockerActions, dockerAbout)
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
	action, err := fs.action()
	if err != nil {
		return fail(err)
	}
	// Only the version action prints it: get, the hot path, does not read
	// the build information.
	var v string
	if action == "version" {
		v = buildinfo.Read(prog, version, commit).Version
	}
	log := newLogger(e.stderr, tf.Verbose)
	set, tokens, err := tf.served(e, log)
	if err != nil {
		return fail(err)
	}
	// --timeout bounds a refresh inside the cache. Run has written its
	// errors to stdout already.
	if code := dockercred.Run(ctx, action, e.stdin, e.stdout, set, tokens, v, log); code != 0 {
		return &exitStatus{code: exitFailure}
	}
	return nil
}
