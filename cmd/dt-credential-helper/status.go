package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/internal/tokens"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// probeKey is a cache key no account has (keys are "token-" and a hash):
// status looks it up only to make the store choose its backend.
const probeKey = "status-probe"

// statusLine is status's command line.
type statusLine struct{ tokenFlags }

func (l *statusLine) flags(e env) *flagSet {
	fs := newFlagSet(e, "status", "status [FLAGS]")
	l.RegisterLookup(fs.FlagSet)
	return fs
}

// runStatus lists the account of the flags and environment (when they name
// one) and every profile: its account, where its secret is kept (never
// read), and the token cached for it (read, never refreshed).
func runStatus(ctx context.Context, e env, args []string) error {
	var tf statusLine
	if err := parse(tf.flags(e), args, false); err != nil {
		return err
	}
	cfg, err := tf.config(e, nil)
	if err != nil {
		return err
	}
	profiles := profile.NewRepository(e.getenv, cfg.KeyringTimeout, cfg.Log)
	cache, err := tokens.OpenCache(cfg)
	if err != nil {
		return err
	}
	accounts, err := profiles.List()
	if err != nil {
		return err
	}
	now := time.Now()
	var rows []statusRow
	if namesAccount(e, tf.tokenFlags) {
		rows = append(rows, newStatusRow(ctx, cfg, profiles, cache, "", "environment", now))
	}
	for _, a := range accounts {
		rows = append(rows, newStatusRow(ctx, cfg, profiles, cache, a.Name, a.SecretIn, now))
	}
	var out bytes.Buffer
	writeStatus(&out, rows, describeStore(cache.Store))
	_, err = e.stdout.Write(out.Bytes())
	return err
}

// namesAccount reports whether the flags or the environment name an
// account of their own (status then lists it first).
func namesAccount(e env, tf tokenFlags) bool {
	return auth.FromEnv(e.getenv).KeyID != "" || tf.KeyID != "" || e.getenv(auth.EnvCredentialsFile) != "" || tf.CredentialsFile != "" ||
		tf.Vault.Path != "" || e.getenv(profile.EnvVaultPath) != ""
}

// statusRow is what status says of one account: a profile's, or (Name
// "") the flags' and environment's.
type statusRow struct {
	Name string
	// KeyID, Email and TokenEndpoint name the account; for a Vault path
	// they are the path, the Vault identity and the path's URL.
	KeyID, Email, TokenEndpoint string
	// Secret says where the secret is kept (not whether it is there:
	// reading every profile's secret, a keyring prompt each perhaps, to
	// print a word is not worth it; the token command says when it is
	// missing): keyring, file, environment, or vault for none of ours.
	Secret string
	// Cached describes the cached token without showing it.
	Cached string
	// Err is why the account could not be resolved.
	Err error
}

// newStatusRow resolves profile name ("" for the flags and environment),
// whose secret is kept where secret says, and looks up its cached token.
func newStatusRow(ctx context.Context, cfg tokens.Config, profiles *profile.Repository, cache tokens.Cache, name, secret string, now time.Time) statusRow {
	r := statusRow{Name: name, Secret: secret}
	a, err := tokens.Resolve(cfg, profiles, name)
	if err != nil {
		r.Err = err
		return r
	}
	if a.Vault != nil {
		r.Secret = "vault"
	}
	c := a.Credentials
	r.KeyID, r.Email, r.TokenEndpoint = c.KeyID, c.Email, c.TokenEndpoint
	r.Cached = cachedState(ctx, cache, a, now)
	return r
}

// writeStatus writes rows as a table, and the store tokens are cached in.
func writeStatus(w io.Writer, rows []statusRow, store string) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tKEY ID\tEMAIL\tTOKEN ENDPOINT\tSECRET\tCACHED TOKEN")
	for _, r := range rows {
		label := cmp.Or(r.Name, "(environment)")
		if r.Err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t%s\n", label, oneLine(r.Err))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", label, r.KeyID, r.Email, r.TokenEndpoint, r.Secret, r.Cached)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nToken cache: %s\n", store)
}

// describeStore names the backend tokens are cached in and, when auto fell
// back to files or the backend does not work, why. The auto store picks its backend on its first
// call, so before any read it would say "keyring" for a keyring that cannot
// be reached; one lookup settles it. The lookup never unlocks or prompts,
// and is bounded by the keyring timeout.
func describeStore(store keyring.Store) string {
	_, err := store.Get(probeKey)
	name := store.Name()
	if err != nil && !errors.Is(err, keyring.ErrNotFound) {
		// An explicit --cache keyring or file that does not work: say so
		// here too, not only when a token is fetched.
		return fmt.Sprintf("%s (%s)", name, oneLine(err))
	}
	return name
}

// cachedState describes a's cached token without showing it.
func cachedState(ctx context.Context, cache tokens.Cache, a tokens.Account, now time.Time) string {
	tok, err := cache.Cached(ctx, a)
	switch {
	case errors.Is(err, keyring.ErrNotFound) || (err == nil && tok == nil):
		return "none"
	case errors.Is(err, keyring.ErrOtherIdentity):
		// Another secret or Vault identity obtained it: not this caller's.
		return "none (cached for another identity)"
	case err != nil:
		return "unreadable: " + oneLine(err)
	case !tok.Expiry.After(now):
		return "expired " + tok.Expiry.UTC().Format(time.RFC3339)
	default:
		return fmt.Sprintf("valid until %s (%s left)", tok.Expiry.UTC().Format(time.RFC3339), tok.Expiry.Sub(now).Truncate(time.Second))
	}
}
