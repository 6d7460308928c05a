package main

import (
	"context"
	"errors"
	"strings"

	"github.com/dt-credential-helper/dt-credential-helper/internal/buildinfo"
	"github.com/dt-credential-helper/dt-credential-helper/internal/sibling"
)

// The plugin is served by a program of its own, installed next to this one,
// so that go-plugin, gRPC and protobuf are not linked here: their package
// initialisers would run in every process, and this one is started for each
// kubectl, git and docker call. Hosts still launch dt-credential-helper; it
// checks the command line and hands over, with the same arguments and
// environment (see handOver).

// pluginProg is the program that serves the plugin.
const pluginProg = "dt-credential-helper-plugin"

// pluginCookieValue is the go-plugin handshake's cookie value, as in
// plugin.Handshake (a test checks they agree), which is not linked here.
const pluginCookieValue = "dt-token-provider"

// errNotPluginProcess is plugin.ErrNotPluginProcess, word for word.
var errNotPluginProcess = errors.New("the plugin command serves DT tokens to a host program over hashicorp/go-plugin " +
	"and is started by that host (it sets " + pluginCookieKey + "); it is not meant to be run by hand")

// pluginAbout is what plugin --help says: who starts it, what it serves
// and what a host sends.
const pluginAbout = `Serves DT tokens to a host program over hashicorp/go-plugin (gRPC, AutoMTLS
supported). The host starts this program, with the command "plugin" or
none, and ` + pluginCookieKey + `=` + pluginCookieValue + ` in its environment, the
handshake's cookie (run by hand, it refuses); it hands over to ` + pluginProg + `,
installed next to it, which prints go-plugin's handshake line on stdout and
serves the plugin "token_provider", the TokenProvider service of
proto/dtcredential/v1/token_provider.proto:

  GetToken(profile, force_refresh)         a valid token, from the same cache
                                           the command line uses
  InvalidateToken(profile, access_token)   drop that cached token, which a
                                           server refused
  WatchToken(profile)                      a stream: the token now, then a
                                           fresh one before each expires

The empty profile is the account this environment and these flags name.
Errors are gRPC codes: Unauthenticated (credentials refused), Unavailable
(may pass), InvalidArgument (unknown profile), FailedPrecondition (missing
configuration).`

// isPluginProcess reports whether a go-plugin host started this process.
func isPluginProcess(getenv func(string) string) bool {
	return getenv(pluginCookieKey) == pluginCookieValue
}

// pluginLine is plugin's command line.
type pluginLine struct{ tokenFlags }

func (l *pluginLine) flags(e env) *flagSet {
	fs := newFlagSet(e, "plugin", "plugin [FLAGS]   (run by a go-plugin host, which sets "+pluginCookieKey+")")
	fs.about = pluginAbout
	l.RegisterServing(fs.FlagSet) // each GetToken says whether to force a refresh
	return fs
}

// runPlugin checks a host's command line (with the magic cookie set, the
// arguments after "plugin" are the usual token flags) and hands the process
// over to the program that serves the plugin.
func runPlugin(_ context.Context, e env, args []string) error {
	var tf pluginLine
	if err := parse(tf.flags(e), args, false); err != nil {
		return err
	}
	if !isPluginProcess(e.getenv) {
		return errNotPluginProcess
	}
	// Bad values are reported here, as for every other command, not by
	// the serving program in the host's log.
	if _, err := tf.Config(e.getenv, nil); err != nil {
		return usagef("%v", err)
	}
	return handOver(e)
}

// handOver runs the serving program in this process's place: same
// arguments, same environment, and on Unix the same process (execve), so
// the host's handle on its plugin, its signals and its exit status are the
// serving program's. On Windows it runs as a child with this process's
// stdin, stdout and stderr, and its exit status is passed on.
func handOver(e env) error {
	// The program is handed the host's environment, secret included:
	// sibling refuses one that others could have put or changed there.
	path, err := sibling.Path(pluginProg, "serving the plugin")
	if err != nil {
		return err
	}
	argv := append([]string{path}, e.args[1:]...)
	return execCommand(e, path, argv, withBuild(e.environ()))
}

// withBuild is environ with this program's build in buildinfo.EnvHandOver
// (any value there before replaced): the plugin's program warns in the
// host's log when it is of another build.
func withBuild(environ []string) []string {
	out := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		if name, _, _ := strings.Cut(kv, "="); !sameVar(name, buildinfo.EnvHandOver) {
			out = append(out, kv)
		}
	}
	return append(out, buildinfo.EnvHandOver+"="+buildinfo.Read(prog, version, commit).Build())
}
