package main

import (
	"context"

	"github.com/dt-credential-helper/dt-credential-helper/internal/gitcred"
)

// gitHelperName is the name the binary answers to as a git credential
// helper.
const gitHelperName = "git-credential-dt"

// gitAbout is what git --help says: what git sends and what each action
// does with it.
const gitAbout = `Answers git's credential requests with DT tokens, as ` + gitHelperName + `
or as "dt-credential-helper git". git runs it for the URLs credential.helper
names it for ('configure git' sets that), with the action as its argument,
and writes the request on stdin, one attribute a line, ending with an
empty line: protocol=https, host=HOST[:PORT], and maybe path=, username=,
wwwauth[]= (each WWW-Authenticate the server sent) and, from git 2.46,
capability[]=authtype.

  get    for a DT host, a token: username= (git's, else oauth2accesstoken),
         password=TOKEN and password_expiry_utc=; when git sent
         capability[]=authtype and the server offered Bearer (or said
         nothing), capability[]=authtype, authtype=Bearer, credential=TOKEN
         and ephemeral=1 in place of username= and password=. For any
         other host, nothing and exit 0, so that git asks its other helpers.
  store  ignored: the tokens are kept in this program's own cache.
  erase  git sends the token the server refused: that cached token is
         dropped, so the next get fetches a new one.

DT hosts are DT's API hosts, those in DT_CREDENTIAL_HOSTS and a profile's
--hosts; --verbose says on stderr why a host got nothing.`

// gitActions are the git credential helper's actions.
const gitActions = "get|store|erase"

// gitLine is git's command line.
type gitLine struct{ tokenFlags }

func (l *gitLine) flags(e env) *flagSet {
	return l.protocolFlags(e, "git", gitHelperName, gitActions, gitAbout)
}

// runGit speaks the git credential helper protocol: the host of git's
// request picks the profile (hostSet), whose token sources answer it.
func runGit(ctx context.Context, e env, args []string) error {
	var tf gitLine
	fs := tf.flags(e)
	if err := parse(fs, args, true); err != nil {
		return err
	}
	action, err := fs.action()
	if err != nil {
		return err
	}
	log := newLogger(e.stderr, tf.Verbose)
	set, tokens, err := tf.served(e, log)
	if err != nil {
		return err
	}
	// --timeout bounds a refresh inside the cache. A host that gets no
	// token is explained at Info level: only under --verbose, since git
	// wants silence.
	return tf.explain(gitcred.Handle(ctx, action, e.stdin, e.stdout, set, tokens, log))
}
