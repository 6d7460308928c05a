package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/internal/tokens"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// forgetConfig is the token configuration login and logout remove a
// profile's cached tokens under: the flags' and the environment's, with
// every store, whatever DT_TOKEN_CACHE says, since the profile's tokens may
// be in any of them.
func forgetConfig(e env, tf tokenFlags) (tokens.Config, error) {
	tf.Cache = string(keyring.ModeAuto)
	return tf.config(e, nil)
}

// forgetTokens is how the profiles repository removes the tokens cached for
// a profile (profile.ForgetTokens): from every store (keyring.Forget), under
// the account the profile names and under the one the token command
// resolves the profile to here, which the flags and environment may make
// another (a token endpoint); a Vault profile's account is only known
// resolved.
func forgetTokens(cfg tokens.Config, profiles *profile.Repository) profile.ForgetTokens {
	return func(ctx context.Context, a profile.Account) error {
		var accounts []keyring.Account
		if a.Vault == nil {
			own := a.Credentials
			own.TokenEndpoint = cmp.Or(own.TokenEndpoint, auth.DefaultTokenEndpoint)
			accounts = append(accounts, tokens.CacheAccount(own))
		}
		resolved, err := tokens.Resolve(cfg, profiles, a.Name)
		switch {
		case err != nil && a.Vault != nil:
			return err
		case err == nil && (a.Vault != nil || resolved.Cache.Key() != accounts[0].Key()):
			accounts = append(accounts, resolved.Cache)
		}
		var errs []error
		for _, acct := range accounts {
			errs = append(errs, keyring.Forget(ctx, cfg.Location(), acct))
		}
		return errors.Join(errs...)
	}
}

// printWarnings prints what a transaction of the profiles repository left
// undone without failing, one line each.
func printWarnings(e env, warnings []error) {
	for _, w := range warnings {
		fmt.Fprintf(e.stderr, "%s: warning: %s\n", prog, oneLine(w))
	}
}

// logoutLine is logout's command line.
type logoutLine struct{ tokenFlags }

func (l *logoutLine) flags(e env) *flagSet {
	fs := newFlagSet(e, "logout", "logout --profile NAME [--key-id ID --email EMAIL [--token-endpoint URL]]")
	fs.about = `Removes the profile from the profiles file, its secret from the Secret
Service (Keychain, Credential Manager) and from its secret file, and its
cached tokens from every token store, whatever --cache says: the
kernel keyring, the Secret Service and the file cache. When something
cannot be removed, it says what and keeps the profile, so that logout can
be run again. The account flags are needed only for a profile that is no
longer in the profiles file: they say whose cached tokens to remove.`
	fs.StringVar(&l.Profile, "profile", "", "profile name (required)")
	l.RegisterAccount(fs.FlagSet)
	fs.BoolVar(&l.Verbose, "verbose", false, "log each step to stderr")
	return fs
}

// runLogout removes a profile with the profiles repository
// (profile.Repository.Remove): its cached tokens from every token store,
// its secret from every store, and then the profile, which stays when
// anything before failed, so that logout can be run again. The account
// flags say whose cached tokens to remove for a profile that is no longer
// in the profiles file.
func runLogout(ctx context.Context, e env, args []string) error {
	var tf logoutLine
	if err := parse(tf.flags(e), args, false); err != nil {
		return err
	}
	name, err := profileName(e, "logout", tf.Profile)
	if err != nil {
		return err
	}
	var account auth.Credentials
	if tf.KeyID != "" || tf.Email != "" {
		account = auth.Credentials{KeyID: tf.KeyID, Email: tf.Email, TokenEndpoint: cmp.Or(tf.TokenEndpoint, auth.DefaultTokenEndpoint)}
		if tf.KeyID == "" || tf.Email == "" {
			return usagef("logout: --key-id and --email go together")
		}
		if err := account.ValidateAccount(); err != nil {
			return usagef("logout: %v", err)
		}
	}
	cfg, err := forgetConfig(e, tf.tokenFlags)
	if err != nil {
		return err
	}
	profiles := profile.NewRepository(e.getenv, cfg.KeyringTimeout, cfg.Log)
	warnings, err := profiles.Remove(ctx, name, account, forgetTokens(cfg, profiles))
	printWarnings(e, warnings)
	if errors.Is(err, profile.ErrNoAccount) {
		err = fmt.Errorf("%w; run logout again with --key-id and --email (its tokens expire within the hour anyway)", err)
	}
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	fmt.Fprintf(e.stderr, "%s: profile %q removed\n", prog, name)
	return nil
}
