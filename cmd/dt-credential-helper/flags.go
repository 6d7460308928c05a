package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/internal/provider"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// tokenFlags are the flags of every command that fetches a token.
type tokenFlags struct {
	profile         string
	keyID           string
	email           string
	tokenEndpoint   string
	credentialsFile string
	cache           string
	forceRefresh    bool
	refreshBuffer   time.Duration
	timeout         time.Duration
	verbose         bool
	// vault names a Vault path to read tokens from instead of a DT account.
	vault profile.Vault
	// registered says register ran: --refresh-buffer and --timeout exist
	// and their values are the user's to check.
	registered bool
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

// errSecretFlag says where the secret comes from instead.
var errSecretFlag = errors.New("the secret is never taken on the command line, where every user of the machine can read it: set " +
	auth.EnvSecret + ", use a credentials file (" + auth.EnvCredentialsFile + " or --credentials-file), or store it with 'dt-credential-helper login', which reads it from stdin or a prompt")

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
}

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

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// register registers the flags of a command that fetches a token on each
// call: token, exec, git, docker.
func (f *tokenFlags) register(fs *flagSet) {
	f.registerServing(fs)
	fs.BoolVar(&f.forceRefresh, "force-refresh", false, "fetch a new token even if a cached one is valid")
}

// registerServing registers the flags of a command that fetches tokens,
// without --force-refresh: the plugin, whose requests carry their own.
func (f *tokenFlags) registerServing(fs *flagSet) {
	f.registered = true
	fs.StringVar(&f.profile, "profile", "", "profile stored with 'login' (env "+profile.EnvProfile+")")
	f.registerLookup(fs)
	fs.DurationVar(&f.refreshBuffer, "refresh-buffer", auth.DefaultRefreshBuffer, "refresh a cached token with less than this left")
	fs.DurationVar(&f.timeout, "timeout", auth.DefaultTimeout, "give up fetching a token after this long")
}

// registerLookup registers the flags that say which account and which cache
// a command looks at, and --verbose: all that status reads, since it lists
// every profile and refreshes nothing.
func (f *tokenFlags) registerLookup(fs *flagSet) {
	f.registerAccount(fs)
	f.registerVault(fs, true)
	fs.StringVar(&f.credentialsFile, "credentials-file", "", "DT SDK credentials file (env "+auth.EnvCredentialsFile+")")
	fs.StringVar(&f.cache, "cache", "", "token cache: auto, kernel, keyring, file or none (env DT_TOKEN_CACHE; default auto)")
	fs.BoolVar(&f.verbose, "verbose", false, "log each step to stderr (never a secret or token)")
}

// registerAccount registers the non-secret account flags.
func (f *tokenFlags) registerAccount(fs *flagSet) {
	fs.StringVar(&f.keyID, "key-id", "", "service account key id (env "+auth.EnvKeyID+")")
	fs.StringVar(&f.email, "email", "", "service account email (env "+auth.EnvEmail+")")
	fs.StringVar(&f.tokenEndpoint, "token-endpoint", "", "token endpoint URL (env "+auth.EnvTokenEndpoint+"; default DT's)")
}

// registerVault registers the flags naming a Vault path and how to log in
// to Vault; withEnv says their environment variables count (not for login,
// which stores what it is given).
func (f *tokenFlags) registerVault(fs *flagSet, withEnv bool) {
	env := func(name string) string {
		if withEnv {
			return " (env " + name + ")"
		}
		return ""
	}
	fs.StringVar(&f.vault.Path, "vault-path", "", "read tokens from this Vault path of vault-plugin-secrets-dt, such as dt/token/prod, instead of a DT account"+env(provider.EnvVaultPath))
	fs.StringVar(&f.vault.Role, "vault-role", "", "log in to Vault with this JWT auth role (with --vault-jwt-file) instead of VAULT_TOKEN"+env(provider.EnvVaultRole))
	fs.StringVar(&f.vault.JWTFile, "vault-jwt-file", "", "the JWT to log in to Vault with, read at each login"+env(provider.EnvVaultJWTFile))
	fs.StringVar(&f.vault.AuthMount, "vault-auth-mount", "", "where Vault's JWT auth method is mounted (default jwt)"+env(provider.EnvVaultAuthMount))
}

// parse parses args and rejects leftovers when the command takes none.
func parse(fs *flagSet, args []string, allowArgs bool) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fs.help()
			return err
		}
		if fs.secret.used {
			// The flag package's error quotes the value: the secret.
			return usagef("%s: %v", fs.Name(), errSecretFlag)
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	if !allowArgs && fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// provider builds the token provider the flags describe; log nil means the
// command line's logger (steps under --verbose, else warnings only).
func (f *tokenFlags) provider(e env, log *slog.Logger) (*provider.Provider, error) {
	if f.registered && f.refreshBuffer < 0 {
		return nil, usagef("--refresh-buffer must not be negative")
	}
	if f.registered && f.timeout <= 0 {
		return nil, usagef("--timeout must be positive")
	}
	if log == nil {
		log = newLogger(e.stderr, f.verbose)
	}
	mode, err := keyring.ParseMode(firstNonEmpty(f.cache, e.getenv("DT_TOKEN_CACHE"), string(keyring.ModeAuto)))
	if err != nil {
		return nil, usagef("%v", err)
	}
	return provider.New(provider.Config{
		Profile: firstNonEmpty(f.profile, e.getenv(profile.EnvProfile)),
		Settings: auth.Settings{
			KeyID:           f.keyID,
			Email:           f.email,
			TokenEndpoint:   f.tokenEndpoint,
			CredentialsFile: f.credentialsFile,
		},
		Cache:         mode,
		RefreshBuffer: f.refreshBuffer,
		Timeout:       f.timeout,
		Getenv:        e.getenv,
		Log:           log,
		Vault:         f.vault,
	}), nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// newLogger logs every step under --verbose, and otherwise only warnings,
// as single "dt-credential-helper: warning: ..." lines.
func newLogger(w io.Writer, verbose bool) *slog.Logger {
	if verbose {
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
			Level: slog.LevelDebug,
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if len(groups) == 0 && a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		}))
	}
	return slog.New(&warnHandler{w: w})
}

// warnHandler prints warnings and errors as one line each.
type warnHandler struct {
	w     io.Writer
	attrs []slog.Attr
}

func (h *warnHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *warnHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(prog + ": warning: " + r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	b.WriteByte('\n')
	_, err := io.WriteString(h.w, strings.ReplaceAll(b.String()[:b.Len()-1], "\n", " ")+"\n")
	return err
}

func (h *warnHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &warnHandler{w: h.w, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *warnHandler) WithGroup(string) slog.Handler { return h }
