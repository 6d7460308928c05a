package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/internal/sibling"
	"github.com/dt-credential-helper/dt-credential-helper/internal/tokens"
	"github.com/dt-credential-helper/dt-credential-helper/internal/vaultproc"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
	"golang.org/x/oauth2"
)

// vaultChild is the upstream of Vault account v: on a miss, a read by
// dt-credential-helper-plugin run as a child (package vaultproc), so that
// this program, started for every kubectl, git and docker call, does not
// link Vault's client. The child's log is shown under verbose only.
func vaultChild(e env, v vaultenv.Reference, verbose bool) (keyring.Upstream, error) {
	var stderr io.Writer
	if verbose {
		stderr = e.stderr
	}
	src, err := vaultproc.NewSource(vaultproc.Config{
		Vault: v,
		// Found and checked at each read: the child is handed the Vault
		// identity, and a cached call never looks for it.
		Program: func() (string, error) { return sibling.Path(pluginProg, "reading tokens from Vault") },
		Environ: e.environ(),
		Stderr:  stderr,
	})
	if err != nil {
		return nil, vaultError(err)
	}
	return vaultUpstream{src}, nil
}

// vaultUpstream is a vaultproc.Source whose configuration errors are
// *auth.ConfigError, as a DT account's are: the command exits 2 on them.
// Its other errors keep their Temporary(), so the cache serves a token it
// holds while Vault is down.
type vaultUpstream struct{ src *vaultproc.Source }

func (v vaultUpstream) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	tok, err := v.src.TokenContext(ctx)
	return tok, vaultError(err)
}

func vaultError(err error) error {
	var ve *vaultproc.Error
	if errors.As(err, &ve) && ve.Kind == vaultproc.Misconfigured {
		return &auth.ConfigError{Msg: ve.Error(), Err: err}
	}
	return err
}

// loginVault stores a fleet profile: a Vault path to read tokens from,
// and how to log in to Vault. There is no DT secret to read or store;
// unless noVerify, one Vault read checks the path and the Vault identity
// first, and nothing is stored when it fails.
func loginVault(ctx context.Context, e env, profiles *profile.Repository, name string, tf tokenFlags, hosts []string, noVerify bool) error {
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
	prof := profile.Profile{Hosts: hosts, Vault: &v}
	if _, err := profiles.Path(); err != nil {
		return err
	}
	if _, err := profiles.File(); err != nil {
		return fmt.Errorf("login: %w", err) // a configuration error
	}
	if !noVerify {
		// The token read is not cached: login checks, the first token
		// command fetches, as for a DT account.
		rctx, cancel := context.WithTimeout(ctx, tf.Timeout)
		_, err := src.TokenContext(rctx)
		cancel()
		if err != nil {
			err = fmt.Errorf("login: the Vault path %s could not be read, nothing was stored (use --no-verify to store the profile anyway): %w", v.Path, err)
			var ce *auth.ConfigError
			if errors.As(err, &ce) {
				return auth.NewConfigError(err)
			}
			return err
		}
	}
	var replaced *profile.Profile
	err = profiles.Update(ctx, func(f *profile.File) (bool, error) {
		if old, ok := f.Profiles[name]; ok {
			replaced = &old
		}
		f.Profiles[name] = prof
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("login: the profile could not be saved: %w", err)
	}
	if replaced != nil && replaced.Vault == nil {
		// The profile was a DT account's: its secret has no use now, and a
		// fleet machine should hold none.
		forgetSecret(e, profiles, name)
	}
	fmt.Fprintf(e.stderr, "%s: profile %q stored (Vault path %s); use it with --profile %s or %s=%s\n", prog, name, v.Path, name, profile.EnvProfile, name)
	return nil
}

// forgetSecret removes profile name's DT secret from the keyring and from a
// secret file, warning when it cannot.
func forgetSecret(e env, profiles *profile.Repository, name string) {
	var errs []error
	for _, where := range []string{profile.SecretInFile, profile.SecretInKeyring} {
		secrets, err := profiles.Secrets(where)
		if err == nil {
			err = secrets.Delete(profile.SecretKey(name))
		}
		if err != nil && !errors.Is(err, keyring.ErrNoSession) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(e.stderr, "%s: warning: the DT secret profile %q had before could not be removed from the keyring: %s; run `secret-tool clear service dt-credential-helper username %s` or the like\n",
			prog, name, oneLine(err), profile.SecretKey(name))
	}
}

// logoutVault removes a Vault profile: its cached tokens (those of the
// Vault address and namespace in the environment, which name the cache
// entry) and then the profile. There is no secret in the keyring to remove.
func logoutVault(ctx context.Context, e env, cfg tokens.Config, profiles *profile.Repository, name string) error {
	account, err := tokens.Resolve(cfg, profiles, name)
	if err == nil {
		err = keyring.Forget(ctx, cfg.Location(), account.Cache)
		if err != nil && onlyUnavailable(err) {
			// A fleet machine often has no OS keyring at all; a token
			// cached in one this process cannot reach expires within the
			// hour, and there is no secret of the profile to remove.
			fmt.Fprintf(e.stderr, "%s: warning: %s\n", prog, oneLine(err))
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("logout of profile %q incomplete: its cached tokens were not removed: %w; the profile stays in the profiles file so that logout can be run again", name, err)
	}
	err = profiles.Update(ctx, func(f *profile.File) (bool, error) {
		_, ok := f.Profiles[name]
		delete(f.Profiles, name)
		return ok, nil
	})
	if err != nil {
		return fmt.Errorf("logout of profile %q incomplete: the profile was not removed from the profiles file: %w", name, err)
	}
	fmt.Fprintf(e.stderr, "%s: profile %q removed\n", prog, name)
	return nil
}

// onlyUnavailable reports whether every error joined in err is an
// unreachable keyring.
func onlyUnavailable(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !errors.Is(e, keyring.ErrUnreachable) {
				return false
			}
		}
		return true
	}
	return errors.Is(err, keyring.ErrUnreachable)
}
