// Command dt-credential-helper prints Disruptive Technologies access tokens
// for kubectl, git, docker-style tools, scripts and host applications.
//
// This package is the one place where things are wired: each command is one
// function (runToken, runExec, runGit, runDocker, runLogin, runLogout,
// runStatus, runPlugin) that reads its flags, opens the profiles repository
// (internal/profile) and, when it serves tokens, builds the token sources
// (internal/tokens), and hands them to the package that speaks its
// protocol; login, logout and status call the repository's transactions.
// This file picks the command, and maps an error to its exit code.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/completion"
	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
)

const prog = "dt-credential-helper"

// pluginCookieKey is the go-plugin handshake's cookie variable, as in
// plugin.Handshake (a test checks they agree), which is not linked here.
const pluginCookieKey = "DT_CREDENTIAL_HELPER_PLUGIN"

// env is the process environment and standard streams, so commands run
// in-process in tests.
type env struct {
	args   []string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// environ is the whole environment, which exec hands on to its command.
	environ func() []string
	// execve replaces the process with a program, as syscall.Exec does, and
	// returns only on failure. exec uses it on Unix, where the command then
	// inherits the process's own stdin, stdout and stderr; tests put a fake
	// in its place.
	execve func(path string, argv, envv []string) error
}

func main() {
	// No signal.NotifyContext here: it starts the signal-forwarding
	// machinery, threads included, which costs a cached call a fifth of its
	// time. A signal ends the process as usual; every write it could cut
	// short is atomic (temp file and rename), and lock files are released by
	// the kernel. plugin installs the handlers it needs.
	code := run(context.Background(), env{
		args:    os.Args,
		stdin:   os.Stdin,
		stdout:  os.Stdout,
		stderr:  os.Stderr,
		getenv:  os.Getenv,
		environ: os.Environ,
		execve:  syscall.Exec,
	})
	os.Exit(code)
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError is a bad command line: exit 2, as for every error that says
// it is the caller's configuration (package misconfig).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// Misconfigured reports true: a command line is the caller's to change.
func (e *usageError) Misconfigured() bool { return true }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// exitStatus ends the program with code and no stderr line: what there was
// to say went where it belongs (docker's stdout, the command exec ran).
type exitStatus struct{ code int }

func (e *exitStatus) Error() string { return "" }

// command is a subcommand: its name, its one-line summary, its flags and
// its body.
type command struct {
	name    string
	summary string
	// flags returns the command's flag set, bound to values of its own.
	// run builds the flag set it parses with the same method (see
	// flagsOf), so --help, the completions and the man page show what run
	// parses.
	flags func(e env) *flagSet
	run   func(ctx context.Context, e env, args []string) error
}

// commandLine is what a command's flags set: flags registers them on a new
// flag set, bound to the receiver.
type commandLine[L any] interface {
	*L
	flags(e env) *flagSet
}

// flagsOf returns command line L's flag set, bound to a new L.
func flagsOf[L any, P commandLine[L]](e env) *flagSet { return P(new(L)).flags(e) }

// commands are the commands, in the order --help, the man page and the
// completions list them.
func commands() []command {
	return []command{
		{"token", "print a valid access token", flagsOf[tokenLine], runToken},
		{"exec", "run a command with DT_ACCESS_TOKEN set", flagsOf[execLine], runExec},
		{"git", "act as a git credential helper (also as " + gitHelperName + ")", flagsOf[gitLine], runGit},
		{"docker", "act as a docker credential helper (also as " + dockerHelperName + ")", flagsOf[dockerLine], runDocker},
		{"plugin", "serve the go-plugin gRPC token provider (run by a host)", flagsOf[pluginLine], runPlugin},
		{"login", "store a profile's secret in the keyring", flagsOf[loginCommand], runLogin},
		{"logout", "remove a profile's secret and cached tokens", flagsOf[logoutLine], runLogout},
		{"rotate", "replace a profile's DT key with a new one", flagsOf[rotateCommand], runRotate},
		{"status", "show profiles, the cache in use and cached tokens", flagsOf[statusLine], runStatus},
		{"configure", "wire git, docker or kubectl to this helper", flagsOf[configureFlags], runConfigure},
		{"doctor", "check the setup and say how to fix what fails", flagsOf[doctorLine], runDoctor},
		{"completion", "print a shell's completion script: bash, zsh or fish", flagsOf[completionLine], runCompletion},
		{"version", "print the version", flagsOf[versionLine], runVersion},
	}
}

// defaultCommand runs when there is no command, or flags only.
const defaultCommand = "token"

// lookup returns the command called name.
func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// run dispatches on the program's name first (git-credential-dt,
// docker-credential-dt), then on its first argument.
func run(ctx context.Context, e env) int {
	switch filepath.Base(e.args[0]) {
	case gitHelperName:
		return report(e.stderr, runGit(ctx, e, e.args[1:]))
	case dockerHelperName:
		return report(e.stderr, runDocker(ctx, e, e.args[1:]))
	}
	// A go-plugin host sets the magic cookie and may launch the binary with
	// no arguments at all: serve it then. A named command ignores the
	// cookie, which may have leaked into a shell's environment: git, docker
	// or exec must not print a handshake and wait for a host that never
	// comes.
	if len(e.args) == 1 && isPluginProcess(e.getenv) {
		return report(e.stderr, runPlugin(ctx, e, nil))
	}
	name := defaultCommand
	var args []string
	if len(e.args) > 1 {
		name, args = e.args[1], e.args[2:]
	}
	switch name {
	case "-h", "-help", "--help", "help":
		printUsage(e.stdout)
		return exitOK
	case "-v", "--version":
		name = "version"
	case completion.Hidden:
		return report(e.stderr, runComplete(e, args))
	case manCommand:
		return report(e.stderr, runMan(e, args))
	}
	cmd, ok := lookup(name)
	if !ok {
		if strings.HasPrefix(name, "-") {
			// Flags without a command mean the token command.
			cmd, _ = lookup(defaultCommand)
			args = e.args[1:]
		} else {
			return report(e.stderr, unknownCommand(name))
		}
	}
	err := cmd.run(ctx, e, args)
	return report(e.stderr, err)
}

// oneLine is err's message as one printable line (auth.OneLine): errors
// quote what servers chose (a certificate's names, a proxy's refusal, a
// Vault error), which must not reach a terminal as escapes. Every line that
// shows an error goes through it.
func oneLine(err error) string { return auth.OneLine(err.Error()) }

// report prints err as one stderr line and returns the exit code for it.
func report(stderr io.Writer, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var es *exitStatus
	if errors.As(err, &es) {
		return es.code
	}
	fmt.Fprintf(stderr, "%s: %s\n", prog, oneLine(err))
	if misconfig.Is(err) {
		return exitUsage
	}
	return exitFailure
}

// usageIntro says what the program does: --help and the man page open with
// it.
const usageIntro = `Turns a Disruptive Technologies service account into short-lived access
tokens for the DT REST API, cached between calls in the kernel keyring
(Linux), the Secret Service, Keychain or Credential Manager, or else in
private files (--cache says which).
Without a COMMAND (or with flags only) it runs 'token': it prints a token.`

// usageAccount says where the service account comes from.
const usageAccount = `The service account comes from DT_SERVICE_ACCOUNT_KEY_ID, DT_SERVICE_ACCOUNT_EMAIL
and DT_SERVICE_ACCOUNT_SECRET, a credentials file (DT_CREDENTIALS_FILE), or a
profile stored with 'login'. The secret is never accepted on the command line.`

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s COMMAND [FLAGS]\n\n%s\n\nCommands:\n", prog, usageIntro)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\n%s\n\nRun '%s COMMAND --help' for a command's flags.\n", usageAccount, prog)
}
