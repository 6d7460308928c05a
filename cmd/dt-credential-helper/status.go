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
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// probeKey is a cache key no account has (keys are "token-" and a hash):
// status looks it up only to make the store choose its backend.
const probeKey = "status-probe"

// runStatus lists the account of the flags and environment (when they name
// one) and every profile: its account, where its secret is kept (never
// read), and the token cached for it (read, never refreshed).
func runStatus(ctx context.Context, e env, args []string) error {
	var tf tokenFlags
	fs := newFlagSet(e, "status", "status [FLAGS]")
	tf.RegisterLookup(fs.FlagSet)
	if err := parse(fs, args, false); err != nil {
		return err
	}
	cfg, err := tf.config(e, nil)
	if err != nil {
		return err
	}
	profiles := profile.NewRepository(e.getenv, cfg.KeyringTimeout, cfg.Log)
	loc, err := tokens.OpenLocation(cfg)
	if err != nil {
		return err
	}
	accounts, err := profiles.List()
	if err != nil {
		return err
	}
	now := time.Now()
	var rows []statusRow
	if namesAccount(e, tf) {
		rows = append(rows, newStatusRow(ctx, cfg, profiles, loc, "", "environment", now))
	}
	for _, a := range accounts {
		r := newStatusRow(ctx, cfg, profiles, loc, a.Name, a.SecretIn, now)
		r.KeyAge = keyAge(a, now)
		rows = append(rows, r)
	}
	var out bytes.Buffer
	writeStatus(&out, rows, describeStore(loc.Store))
	_, err = e.stdout.Write(out.Bytes())
	return err
}

// namesAccount reports whether the flags or the environment name an
// account of their own (status then lists it first).
func namesAccount(e env, tf tokenFlags) bool {
	return auth.FromEnv(e.getenv).KeyID != "" || tf.KeyID != "" || e.getenv(auth.EnvCredentialsFile) != "" || tf.CredentialsFile != "" ||
		tf.Vault.Path != "" || e.getenv(vaultenv.EnvPath) != ""
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
	// KeyAge is how old a profile's DT key is (keyAge); "" for none.
	KeyAge string
	// Err is why the account could not be resolved.
	Err error
}

// newStatusRow resolves profile name ("" for the flags and environment),
// whose secret is kept where secret says, and looks up its cached token.
func newStatusRow(ctx context.Context, cfg tokens.Config, profiles *profile.Repository, loc keyring.Location, name, secret string, now time.Time) statusRow {
	r := statusRow{Name: name, Secret: secret}
	a, err := tokens.Resolve(cfg, profiles, name)
	if err != nil {
		r.Err = err
		return r
	}
	if a.Vault != nil {
		r.Secret = "vault"
	}
	c := a.Cache
	r.KeyID, r.Email, r.TokenEndpoint = c.KeyID, c.Email, c.Endpoint
	r.Cached = cachedState(ctx, loc, c, now)
	return r
}

// writeStatus writes rows as a table, and the store tokens are cached in.
func writeStatus(w io.Writer, rows []statusRow, store string) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tKEY ID\tEMAIL\tTOKEN ENDPOINT\tSECRET\tCACHED TOKEN\tKEY AGE")
	for _, r := range rows {
		label := cmp.Or(r.Name, "(environment)")
		if r.Err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t%s\t-\n", label, oneLine(r.Err))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", label, r.KeyID, r.Email, r.TokenEndpoint, r.Secret, r.Cached, cmp.Or(r.KeyAge, "-"))
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

// cachedState describes acct's cached token in loc without showing it.
func cachedState(ctx context.Context, loc keyring.Location, acct keyring.Account, now time.Time) string {
	// A cache without an upstream: Cached never refreshes.
	tok, err := keyring.NewCache(nil, keyring.CacheConfig{Location: loc, Account: acct}).Cached(ctx)
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

// keyAge is how old profile a's DT key is, from its creation time, which
// rotate records (status asks DT nothing): "unknown" for a key logged in
// by hand; "" for a Vault profile, whose key is Vault's. An unfinished
// rotation says so.
func keyAge(a profile.Account, now time.Time) string {
	if a.Vault != nil {
		return ""
	}
	age := "unknown"
	if c := a.KeyCreated; !c.IsZero() {
		switch d := now.Sub(c); {
		case d >= 48*time.Hour:
			age = fmt.Sprintf("%dd", int(d/(24*time.Hour)))
		case d >= time.Hour:
			age = fmt.Sprintf("%dh", int(d/time.Hour))
		default:
			age = fmt.Sprintf("%dm", max(int(d/time.Minute), 0))
		}
	}
	if a.Rotation != nil {
		age += " (rotation unfinished: run rotate)"
	}
	return age
}
