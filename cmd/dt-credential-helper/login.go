package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	dthosts "github.com/dt-credential-helper/dt-credential-helper/internal/hosts"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// runLogin stores a profile: a DT service account with its secret (read
// from stdin or a prompt, kept in the OS keyring or with --store file in a
// private file), or a Vault path to read tokens from. Unless --no-verify,
// one token request (or Vault read) checks it first, and nothing is stored
// when it fails: a typo must not replace a working profile. The profiles
// repository stores it (profile.Repository.Save), removing the tokens
// cached for its account. It builds no token source.
func runLogin(ctx context.Context, e env, args []string) error {
	l, err := parseLogin(e, args)
	if err != nil {
		return err
	}
	log := newLogger(e.stderr, l.tf.Verbose)
	var secret string
	if l.prof.Vault == nil {
		if secret, err = readSecret(e); err != nil {
			return err
		}
	}
	profiles := profile.NewRepository(e.getenv, 0, log)
	// Read now, so an untrusted or broken profiles file (a configuration
	// error) stops login before the network and the keyring; Save reads it
	// again under its lock.
	if _, err := profiles.File(); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if !l.noVerify {
		if err := l.verify(ctx, secret, log); err != nil {
			return l.tf.explain(err)
		}
	}
	cfg, err := forgetConfig(e, l.tf)
	if err != nil {
		return err
	}
	warnings, err := profiles.Save(ctx, l.name, l.prof, secret, forgetTokens(cfg, profiles))
	printWarnings(e, warnings)
	if err != nil {
		return loginError(l, err)
	}
	what := "key id " + l.prof.KeyID
	if l.prof.Vault != nil {
		what = "Vault path " + l.prof.Vault.Path
	}
	fmt.Fprintf(e.stderr, "%s: profile %q stored (%s); use it with --profile %s or %s=%s\n", prog, l.name, what, l.name, profile.EnvProfile, l.name)
	return nil
}

// loginCommand is login's command line, checked.
type loginCommand struct {
	tf       tokenFlags
	name     string // the profile
	noVerify bool
	store    string // --store: profile.SecretInKeyring or SecretInFile
	hosts    string // --hosts, as given
	// prof is the profile to store; vault, for a Vault profile, reads its
	// path to check it.
	prof  profile.Profile
	vault keyring.Upstream
}

func (l *loginCommand) flags(e env) *flagSet {
	fs := newFlagSet(e, "login", "login --profile NAME --key-id ID --email EMAIL [--token-endpoint URL] [--store keyring|file] < secret\n   or: "+prog+" login --profile NAME --vault-path PATH [--vault-role ROLE --vault-jwt-file FILE]")
	fs.about = `Stores a profile: a DT service account's key id and email in the profiles
file, and its secret in the OS keyring (Secret Service, Keychain or
Credential Manager) or, with --store file, in a private file; or, with
--vault-path, a Vault path to read tokens from. Unless --no-verify, one
token request (or Vault read) checks it first, and nothing is stored when
that fails.

The secret is read at a terminal from a prompt that does not echo;
otherwise from stdin (one line; a line end at its end is removed), and when
stdin holds none (empty, as in CI), from ` + auth.EnvSecret + `. A
secret on stdin wins over the variable. It is never taken on the command
line.`
	fs.StringVar(&l.tf.Profile, "profile", "", "profile name (required)")
	l.tf.RegisterAccount(fs.FlagSet)
	fs.StringVar(&l.hosts, "hosts", "", "extra hosts (host or host:port, comma separated) the git and docker helpers give this profile's tokens to")
	l.tf.RegisterVault(fs.FlagSet, false)
	fs.BoolVar(&l.noVerify, "no-verify", false, "store the profile without fetching a token to check it")
	fs.StringVar(&l.store, "store", profile.SecretInKeyring, "where the secret is kept: keyring (the OS keyring) or file (a private file under the config directory, for machines without a keyring)")
	fs.DurationVar(&l.tf.Timeout, "timeout", auth.DefaultTimeout, "give up checking the credentials after this long")
	fs.BoolVar(&l.tf.Verbose, "verbose", false, "log each step to stderr (never a secret or token)")
	fs.choices = choices{"store", profile.SecretInKeyring + "|" + profile.SecretInFile}
	return fs
}

// parseLogin parses and checks login's command line, before the secret is
// read: a bad command line costs no typing.
func parseLogin(e env, args []string) (loginCommand, error) {
	var l loginCommand
	if err := parse(l.flags(e), args, false); err != nil {
		return l, err
	}
	name, err := profileName(e, "login", l.tf.Profile)
	if err != nil {
		return l, err
	}
	l.name = name
	if l.store != profile.SecretInKeyring && l.store != profile.SecretInFile {
		return l, usagef("login: --store %.40q: want keyring or file", l.store)
	}
	if l.tf.Timeout <= 0 {
		return l, usagef("login: --timeout must be positive")
	}
	// Checked now, as the git and docker helpers will read them: one bad
	// entry stored would fail every later git and docker call.
	routes, err := dthosts.ParseList(l.hosts, l.name)
	if err != nil {
		return l, usagef("login: --hosts: %v", err)
	}
	for _, r := range routes {
		l.prof.Hosts = append(l.prof.Hosts, r.String())
	}
	if l.tf.Vault != (vaultenv.Reference{}) {
		return l, l.checkVault(e)
	}
	return l, l.checkAccount()
}

// profileName is the profile a login or logout names (--profile, else
// DT_PROFILE), checked.
func profileName(e env, cmd, flag string) (string, error) {
	name := cmp.Or(flag, e.getenv(profile.EnvProfile))
	if name == "" {
		return "", usagef("%s: --profile is required", cmd)
	}
	if err := profile.ValidateName(name); err != nil {
		return "", usagef("%s: %v", cmd, err)
	}
	return name, nil
}

// checkAccount makes l's profile that of a DT service account.
func (l *loginCommand) checkAccount() error {
	tf := l.tf
	l.prof.KeyID, l.prof.Email, l.prof.TokenEndpoint = tf.KeyID, tf.Email, tf.TokenEndpoint
	if l.store == profile.SecretInFile {
		l.prof.SecretStore = profile.SecretInFile
	}
	if err := l.credentials("").ValidateAccount(); err != nil {
		return usagef("login: %v", err)
	}
	return nil
}

// credentials is l's DT account with secret.
func (l *loginCommand) credentials(secret string) auth.Credentials {
	return auth.Credentials{KeyID: l.prof.KeyID, Email: l.prof.Email, Secret: secret,
		TokenEndpoint: cmp.Or(l.prof.TokenEndpoint, auth.DefaultTokenEndpoint)}
}

// checkVault makes l's profile a fleet profile: a Vault path to read tokens
// from, and how to log in to Vault. There is no DT secret to read or store.
func (l *loginCommand) checkVault(e env) error {
	tf := l.tf
	if tf.KeyID != "" || tf.Email != "" || tf.TokenEndpoint != "" {
		return usagef("login: --vault-path and --key-id, --email or --token-endpoint do not go together: a Vault profile holds no DT account")
	}
	v := tf.Vault
	if v.Path == "" {
		return usagef("login: --vault-role, --vault-jwt-file and --vault-auth-mount need --vault-path")
	}
	if v.JWTFile != "" {
		// The profile is used from other directories (kubectl, git).
		abs, err := filepath.Abs(v.JWTFile)
		if err != nil {
			return usagef("login: --vault-jwt-file: %v", err)
		}
		v.JWTFile = abs
	}
	src, err := vaultChild(e, v, tf.Verbose)
	if err != nil {
		return usagef("login: %v", err)
	}
	l.prof.Vault, l.vault = &v, src
	return nil
}

// verify checks l's profile with one token request, or one Vault read,
// which is not cached: login checks, the first token command fetches.
func (l *loginCommand) verify(ctx context.Context, secret string, log *slog.Logger) error {
	if v := l.prof.Vault; v != nil {
		rctx, cancel := context.WithTimeout(ctx, l.tf.Timeout)
		defer cancel()
		if _, err := l.vault.TokenContext(rctx); err != nil {
			return fmt.Errorf("login: the Vault path %s could not be read, nothing was stored (use --no-verify to store the profile anyway): %w", v.Path, err)
		}
		return nil
	}
	src, err := auth.NewSource(l.credentials(secret), auth.WithTimeout(l.tf.Timeout), auth.WithLogger(log))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, l.tf.Timeout)
	defer cancel()
	defer waiting(ctx, l.credentials("").TokenEndpoint)()
	if _, err := src.TokenContext(ctx); err != nil {
		return fmt.Errorf("login: the credentials could not be checked, nothing was stored (use --no-verify to store them anyway): %w", err)
	}
	return nil
}

// loginError says what a failed Save means to the user of login.
func loginError(l loginCommand, err error) error {
	var se *profile.StoreError
	if errors.As(err, &se) && se.Store == profile.SecretInKeyring && errors.Is(err, keyring.ErrUnreachable) {
		return fmt.Errorf("login: no OS keyring is available to keep the secret of profile %q, nothing was stored (%w); "+
			"on a machine without one, keep it in a private file instead: add --store file", l.name, se.Err)
	}
	return fmt.Errorf("login: %w", err)
}
