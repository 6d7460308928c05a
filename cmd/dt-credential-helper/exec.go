package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/internal/tokens"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// exitNotFound is the shell's status for a command that cannot be found.
const exitNotFound = 127

// The variables exec gives its command.
const (
	envAccessToken = "DT_ACCESS_TOKEN"
	envExpiresAt   = "DT_ACCESS_TOKEN_EXPIRES_AT"
)

// execLine is exec's command line.
type execLine struct{ tokenFlags }

func (l *execLine) flags(e env) *flagSet {
	fs := newFlagSet(e, "exec", "exec [FLAGS] -- COMMAND [ARGS...]")
	fs.about = `Runs COMMAND with a valid access token in DT_ACCESS_TOKEN and its expiry
in DT_ACCESS_TOKEN_EXPIRES_AT (RFC 3339, UTC); the token is fetched once, at
the start. The command gets the rest of the environment, except what holds
a secret or names where one is (it is handed a token, not what mints them):
` + auth.EnvSecret + `, ` + auth.EnvCredentialsFile + `, ` + vaultenv.EnvJWTFile + `
and ` + envVaultToken + `; nor does it get ` + pluginCookieKey + `.

` + execAbout
	l.register(fs)
	fs.runsCommand = true
	return fs
}

// runExec runs a command with DT_ACCESS_TOKEN in its environment. On Unix
// the helper replaces itself with the command (see execCommand), so the
// command's pid, signals and exit status are simply its own.
func runExec(ctx context.Context, e env, args []string) error {
	var tf execLine
	fs := tf.flags(e)
	dash := slices.Index(args, "--")
	if dash < 0 {
		if slices.Contains(args, "-h") || slices.Contains(args, "--help") || slices.Contains(args, "-help") {
			return parse(fs, args, true)
		}
		return usagef("exec: put the command after --: exec [FLAGS] -- COMMAND [ARGS...]")
	}
	if err := parse(fs, args[:dash], false); err != nil {
		return err
	}
	argv := args[dash+1:]
	if len(argv) == 0 {
		return usagef("exec: no command after --")
	}
	// Find the command before fetching a token for it.
	path, err := lookPath(argv[0], e.getenv("PATH"))
	if err != nil {
		fmt.Fprintf(e.stderr, "%s: exec: %s\n", prog, oneLine(err))
		return &exitStatus{code: exitNotFound}
	}
	cfg, err := tf.config(e, nil)
	if err != nil {
		return err
	}
	repo := profile.NewRepository(e.getenv, cfg.KeyringTimeout, cfg.Log)
	sources := tokens.New(cfg, repo)
	tok, err := sources.Token(ctx, "", tf.forceRefresh) // --timeout bounds a refresh
	if err != nil {
		return tf.explain(err)
	}
	envv := append(childEnv(e.environ()),
		envAccessToken+"="+tok.AccessToken,
		envExpiresAt+"="+tok.Expiry.UTC().Format(time.RFC3339))
	return execCommand(e, path, argv, envv)
}

// envVaultToken is Vault's client's token variable.
const envVaultToken = "VAULT_TOKEN"

// withheld reports whether exec keeps the variable name from its command:
//   - what mints DT tokens, or names where it is: the DT secret, the
//     credentials file holding it, the JWT a Vault login presents, a Vault
//     token (which, for a Vault account, is what reads the DT tokens, and
//     for any other is still the user's Vault identity). The command is
//     given a token that expires; these stay with us. The key id, email and
//     Vault path are not secret and stay, as does everything else;
//   - the go-plugin cookie, meant for the one process a go-plugin host
//     starts: passed on, it would make this helper, run by the command with
//     no arguments, serve a plugin instead of printing a token;
//   - any token a caller's exec set, replaced by ours (execve, unlike
//     exec.Cmd, passes duplicates on, and getenv returns the first, the
//     stale one).
func withheld(name string) bool {
	for _, w := range [...]string{
		auth.EnvSecret, auth.EnvCredentialsFile, vaultenv.EnvJWTFile, envVaultToken,
		pluginCookieKey, envAccessToken, envExpiresAt,
	} {
		if sameVar(name, w) {
			return true
		}
	}
	return false
}

// childEnv is environ without the variables exec withholds.
func childEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if name, _, _ := strings.Cut(kv, "="); !withheld(name) {
			out = append(out, kv)
		}
	}
	return out
}

// sameVar reports whether a and b name the same environment variable:
// Windows matches names case-insensitively.
func sameVar(a, b string) bool {
	return a == b || runtime.GOOS == "windows" && strings.EqualFold(a, b)
}
