package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/tokens"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// tokenFlags are the flags of every command that fetches a token: those
// the plugin's program shares (tokens.Flags), and --force-refresh.
type tokenFlags struct {
	tokens.Flags
	forceRefresh bool
}

// newFlagSet returns a flag set that reports errors instead of exiting or
// printing; parse prints its help, to stdout, only when help was asked for.
// Every command refuses --secret with what to do instead.
func newFlagSet(e env, name, synopsis string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), stdout: e.stdout, synopsis: synopsis}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // the flag package calls it on every error, too
	fs.Var(&fs.secret, secretFlag, "")
	return fs
}

// secretFlag is the flag people try first, and the one never accepted: argv
// is visible to every user of the machine.
const secretFlag = "secret"

// errSecretFlag says where the secret comes from instead; errLoginSecret
// says it for login, which is where the secret is stored from.
var (
	errSecretFlag = errors.New("the secret is never taken on the command line, where every user of the machine can read it: set " +
		auth.EnvSecret + ", use a credentials file (" + auth.EnvCredentialsFile + " or --credentials-file), or store it with 'dt-credential-helper login', which reads it from stdin or a prompt")
	errLoginSecret = errors.New("the secret is never taken on the command line, where every user of the machine can read it: " +
		"login reads it from a prompt at a terminal, else from stdin, or from " + auth.EnvSecret + " when stdin is empty")
)

// secretTrap is the --secret flag: a boolean flag, so that every spelling
// (--secret, --secret x, --secret=x) reaches Set, which keeps nothing.
type secretTrap struct{ used bool }

func (s *secretTrap) String() string { return "" }

func (s *secretTrap) Set(string) error {
	s.used = true
	return errSecretFlag
}

func (s *secretTrap) IsBoolFlag() bool { return true }

// flagSet is a command's flags and its help text.
type flagSet struct {
	*flag.FlagSet
	stdout   io.Writer
	synopsis string
	// about, if set, is printed between the synopsis and the flags: what a
	// user of the command must know that no flag says.
	about string
	// secret records a --secret on the command line.
	secret secretTrap
	// What the completions offer besides the flags' names (complete.go),
	// each a list as a usage line writes it ("a|b|c"): the values of the
	// first operand, and of the flags choices names (sharedValues has those
	// of the flags every command means the same by); whether flags may
	// follow the operand, and whether the words after "--" are a command
	// to run. Constants, so that the hot path builds nothing for them.
	operands          string
	choices           choices
	flagsAfterOperand bool
	runsCommand       bool
	// output, when set, is where -o/--output lands, and outputs its
	// formats ("a|b"): parse refuses any other (outputFlag).
	output  *string
	outputs string
}

// choices says that the flags named (separated by spaces) take one of
// values ("a|b|c").
type choices struct{ flags, values string }

func (fs *flagSet) help() {
	fmt.Fprintf(fs.stdout, "Usage: %s %s\n\n", prog, fs.synopsis)
	if fs.about != "" {
		fmt.Fprintf(fs.stdout, "%s\n\n", strings.TrimRight(fs.about, "\n"))
	}
	// Every flag but the --secret trap, with its default as registered.
	shown := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != secretFlag {
			shown.Var(f.Value, f.Name, f.Usage)
			shown.Lookup(f.Name).DefValue = f.DefValue
		}
	})
	if !hasFlags(shown) {
		fmt.Fprintln(fs.stdout, "This command takes no flags.")
		return
	}
	fmt.Fprintln(fs.stdout, "Flags:")
	shown.SetOutput(fs.stdout)
	shown.PrintDefaults()
}

// flagSpelling is how README writes a flag: --name, or -x for a letter.
func flagSpelling(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// register registers the flags of a command that fetches a token on each
// call: token, exec, git, docker.
func (f *tokenFlags) register(fs *flagSet) {
	f.RegisterServing(fs.FlagSet)
	fs.BoolVar(&f.forceRefresh, "force-refresh", false, "fetch a new token even if a cached one is valid")
}

// outputFlag registers -o and --output into p: one of formats ("text|json"),
// the first the default. The completions offer them, and parse refuses any
// other value with the list.
func (fs *flagSet) outputFlag(p *string, formats string) {
	def, _, _ := strings.Cut(formats, "|")
	fs.StringVar(p, "o", def, "output format: "+formats)
	fs.StringVar(p, "output", def, "same as -o")
	fs.choices = choices{"o output", formats}
	fs.output, fs.outputs = p, formats
}

// protocolFlags is the flag set of a command that speaks a credential
// helper protocol (git's, docker's): the token flags, and one of actions
// ("a|b") as its operand; alias is the name the binary also answers to as
// that helper.
func (f *tokenFlags) protocolFlags(e env, name, alias, actions, about string) *flagSet {
	fs := newFlagSet(e, name, name+" [FLAGS] "+actions+"   (or as "+alias+")")
	fs.about = about
	f.register(fs)
	fs.operands = actions
	return fs
}

// action returns the one operand of a protocol command (protocolFlags):
// its action. Any other number of operands is an error, of exit status 1
// rather than a usage error's 2: the docker protocol wants 1 for every
// error, and git gives a helper's status no meaning beyond "failed", so the
// two helpers agree on one code for a call made wrong.
func (fs *flagSet) action() (string, error) {
	if fs.NArg() == 1 {
		return fs.Arg(0), nil
	}
	actions := strings.Split(fs.operands, "|")
	last := len(actions) - 1
	return "", fmt.Errorf("%s: want one action (%s or %s), got %d arguments; run '%s %s --help'",
		fs.Name(), strings.Join(actions[:last], ", "), actions[last], fs.NArg(), prog, fs.Name())
}

// parse parses args and rejects leftovers when the command takes none, and
// an output format (outputFlag) that is not one of the command's.
func parse(fs *flagSet, args []string, allowArgs bool) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fs.help()
			return err
		}
		if fs.secret.used {
			// The flag package's error quotes the value: the secret.
			if fs.Name() == "login" {
				return usagef("%s: %v", fs.Name(), errLoginSecret)
			}
			return usagef("%s: %v", fs.Name(), errSecretFlag)
		}
		if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
			// The flag package's words for it, which say nothing of what to do.
			return unknownFlag(fs, args, name)
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	if !allowArgs && fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	if fs.output != nil && !slices.Contains(strings.Split(fs.outputs, "|"), *fs.output) {
		return usagef("%s: unknown output format %q: want %s", fs.Name(), *fs.output, strings.ReplaceAll(fs.outputs, "|", " or "))
	}
	return nil
}

// config returns the token configuration the flags and the environment
// describe; log nil means the command line's logger (steps under
// --verbose, else warnings only). A bad value is a usage error.
func (f *tokenFlags) config(e env, log *slog.Logger) (tokens.Config, error) {
	if log == nil {
		log = newLogger(e.stderr, f.Verbose)
	}
	cfg, err := f.Config(e.getenv, log)
	if err != nil {
		return tokens.Config{}, usagef("%v", err)
	}
	cfg.VaultUpstream = func(v vaultenv.Reference) (keyring.Upstream, error) {
		return vaultChild(e, v, f.Verbose)
	}
	cfg.Waiting = waiting
	return cfg, nil
}
