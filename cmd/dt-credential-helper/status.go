package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
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

// statusAbout is what status --help says it shows.
const statusAbout = `Shows what is configured and cached, never a secret or a token: the
account the flags, the environment or a credentials file name, if any,
then every profile. For each: its key id, email and token endpoint (for a
Vault path: the path, the Vault identity and the path's URL), where its
secret is kept (keyring, file, environment, credentials file; vault for
none of ours), the token store its cached token is in, and the cached
token's expiry (or none), and while refreshing backs off after a failure
(an outage), since when it fails and when it is tried next. Then the
token cache new tokens go to, and why, when it fell back from a keyring.
Nothing is refreshed and no secret is read.

-o json prints the same as one JSON object, for scripts and monitoring:
{"token_cache":{"store","note"},"accounts":[{"profile","source",
"credentials_file","key_id","email","token_endpoint","vault":{"path",
"identity","url"},"secret","token":{"state","store","expires_at",
"expires_in","error","refresh_backoff":{"failed_at","next_attempt",
"error"}},"error"}]}; README's "status -o json" says what each
field holds.`

// statusOutputs are status's output formats.
const statusOutputs = "text|json"

// statusLine is status's command line.
type statusLine struct {
	tokenFlags
	output string
}

func (l *statusLine) flags(e env) *flagSet {
	fs := newFlagSet(e, "status", "status [-o "+statusOutputs+"] [FLAGS]")
	fs.about = statusAbout
	l.RegisterLookup(fs.FlagSet)
	fs.outputFlag(&l.output, statusOutputs)
	return fs
}

// runStatus lists the account of the flags and environment (when they name
// one) and every profile: its account, where its secret is kept (never
// read), and the token cached for it (read, never refreshed), as a table
// or as JSON.
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
	loc, err := tokens.OpenLocation(cfg)
	if err != nil {
		return err
	}
	accounts, err := profiles.List()
	if err != nil {
		return err
	}
	// A store that does not work is in its note; status goes on.
	store, _ := describeStore(loc.Store)
	rep := statusReport{TokenCache: store, Accounts: []statusRow{}}
	now := time.Now()
	if src, file := accountSource(e, tf.tokenFlags); src != "" {
		r := newStatusRow(ctx, cfg, profiles, loc, "", now)
		r.Source, r.CredentialsFile = src, file
		rep.Accounts = append(rep.Accounts, r)
	}
	for _, a := range accounts {
		r := newStatusRow(ctx, cfg, profiles, loc, a.Name, now)
		if r.Secret == "" {
			r.Secret = a.SecretIn
		}
		r.KeyAge = keyAge(a, now)
		if !a.KeyCreated.IsZero() {
			created := a.KeyCreated.UTC()
			r.KeyCreated = &created
		}
		r.RotationUnfinished = a.Rotation != nil
		rep.Accounts = append(rep.Accounts, r)
	}
	var out bytes.Buffer
	if tf.output == "json" {
		enc := json.NewEncoder(&out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		writeStatus(&out, rep, len(accounts) == 0)
	}
	_, err = e.stdout.Write(out.Bytes())
	return err
}

// The sources of an account that is not a profile's, and where its secret
// is, as status says them.
const (
	sourceProfile         = "profile"
	sourceEnvironment     = "environment"
	sourceCredentialsFile = "credentials-file"
	secretVault           = "vault"
)

// accountSource says whether the flags or the environment name an account
// of their own (status then lists it first), and where from: a credentials
// file (with its path), or the environment and flags; "" for none.
func accountSource(e env, tf tokenFlags) (source, file string) {
	if file = tf.CredentialsFile; file == "" {
		file = e.getenv(auth.EnvCredentialsFile)
	}
	switch {
	case tf.Vault.Path != "" || e.getenv(vaultenv.EnvPath) != "":
		return sourceEnvironment, ""
	case file != "":
		return sourceCredentialsFile, file
	case auth.FromEnv(e.getenv).KeyID != "" || tf.KeyID != "":
		return sourceEnvironment, ""
	}
	return "", ""
}

// statusReport is what status says: status -o json prints it as it is,
// a shape README documents and scripts may rely on.
type statusReport struct {
	TokenCache storeState  `json:"token_cache"`
	Accounts   []statusRow `json:"accounts"`
}

// storeState is the token cache new tokens go to: its store, and why it
// is not the first choice, or why it does not work.
type storeState struct {
	Store string `json:"store"`
	Note  string `json:"note,omitempty"`
}

// String is the store as one phrase: its name, and the note in brackets.
func (s storeState) String() string {
	if s.Note == "" {
		return s.Store
	}
	return s.Store + " (" + s.Note + ")"
}

// statusRow is what status says of one account: a profile's, or (Profile
// "") the flags', environment's or credentials file's.
type statusRow struct {
	Profile string `json:"profile,omitempty"`
	// Source is where the account is configured: sourceProfile,
	// sourceEnvironment (and flags) or sourceCredentialsFile.
	Source          string `json:"source"`
	CredentialsFile string `json:"credentials_file,omitempty"`
	// KeyID, Email and TokenEndpoint name a DT account.
	KeyID         string `json:"key_id,omitempty"`
	Email         string `json:"email,omitempty"`
	TokenEndpoint string `json:"token_endpoint,omitempty"`
	// Vault names a Vault path's account.
	Vault *vaultState `json:"vault,omitempty"`
	// Secret says where the secret is kept (not whether it is there:
	// reading every profile's secret, a keyring prompt each perhaps, to
	// print a word is not worth it; the token command says when it is
	// missing): keyring, file, environment, credentials-file, or vault
	// for none of ours.
	Secret string `json:"secret,omitempty"`
	// Token describes the cached token without showing it.
	Token *tokenState `json:"token,omitempty"`
	// KeyCreated is when a profile's DT key was created, where rotate or
	// login learnt it; RotationUnfinished says a rotate was cut short.
	KeyCreated         *time.Time `json:"key_created,omitempty"`
	RotationUnfinished bool       `json:"rotation_unfinished,omitempty"`
	// KeyAge is the table's KEY AGE (keyAge); "" for none.
	KeyAge string `json:"-"`
	// Error is why the account could not be resolved.
	Error string `json:"error,omitempty"`
}

// vaultState names a Vault path's account: the path, who reads it, and the
// URL its tokens are cached under.
type vaultState struct {
	Path     string `json:"path"`
	Identity string `json:"identity"`
	URL      string `json:"url"`
}

// tokenState is an account's cached token, never the token itself.
type tokenState struct {
	// State is none, other-identity (cached for another secret or Vault
	// identity: not this caller's), unreadable, expired or valid.
	State string `json:"state"`
	// Store is the token store it is in ("kernel", "keyring", "file").
	Store     string     `json:"store,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// ExpiresIn is the whole seconds left, for a valid token.
	ExpiresIn int64  `json:"expires_in,omitempty"`
	Error     string `json:"error,omitempty"`
	// RefreshBackoff is the shared back-off after a failed refresh, while
	// it holds: until then every call serves the cached token, or, with
	// none valid, the failure at once.
	RefreshBackoff *backoffState `json:"refresh_backoff,omitempty"`
}

// backoffState is a refresh back-off as status shows it.
type backoffState struct {
	// FailedAt is when the last attempt failed, NextAttempt when the next
	// may be made.
	FailedAt    time.Time `json:"failed_at"`
	NextAttempt time.Time `json:"next_attempt"`
	// Error is the failure, one printable line.
	Error string `json:"error"`
}

// newStatusRow resolves profile name ("" for the flags and environment)
// and looks up its cached token.
func newStatusRow(ctx context.Context, cfg tokens.Config, profiles *profile.Repository, loc keyring.Location, name string, now time.Time) statusRow {
	r := statusRow{Profile: name, Source: sourceProfile}
	a, err := tokens.Resolve(cfg, profiles, name)
	if err != nil {
		r.Error = oneLine(err)
		return r
	}
	c := a.Cache
	switch {
	case a.Vault != nil:
		r.Vault = &vaultState{Path: c.KeyID, Identity: c.Email, URL: c.Endpoint}
		r.Secret = secretVault
	default:
		r.KeyID, r.Email, r.TokenEndpoint = c.KeyID, c.Email, c.Endpoint
		if name == "" {
			r.Secret = envSecretSource(cfg)
		}
	}
	r.Token = cachedState(ctx, loc, c, now)
	return r
}

// envSecretSource is where the secret of the flags' and environment's DT
// account comes from: the environment's variable wins over a credentials
// file's (auth.Layers).
func envSecretSource(cfg tokens.Config) string {
	if auth.FromEnv(cfg.Getenv).Secret != "" {
		return sourceEnvironment
	}
	return sourceCredentialsFile
}

// writeStatus writes rep as a table, then the store new tokens go to. With
// no profiles (noProfiles) it says so, and how to store one.
func writeStatus(w io.Writer, rep statusReport, noProfiles bool) {
	if len(rep.Accounts) > 0 {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PROFILE\tKEY ID\tEMAIL\tTOKEN ENDPOINT\tSECRET\tTOKEN STORE\tCACHED TOKEN\tKEY AGE")
		for _, r := range rep.Accounts {
			fmt.Fprintln(tw, r.columns())
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	if noProfiles {
		fmt.Fprintf(w, "No profiles: store one with '%s login --profile NAME --key-id ID --email EMAIL'.\n", prog)
	}
	fmt.Fprintf(w, "Token cache: %s\n", rep.TokenCache)
}

// columns is r as a table row, tab separated.
func (r statusRow) columns() string {
	label := r.Profile
	switch {
	case r.Source == sourceCredentialsFile:
		label = "(credentials file)"
	case label == "":
		label = "(environment)"
	}
	if r.Error != "" {
		return strings.Join([]string{label, "-", "-", "-", "-", "-", r.Error, "-"}, "\t")
	}
	keyID, email, endpoint := r.KeyID, r.Email, r.TokenEndpoint
	if v := r.Vault; v != nil {
		keyID, email, endpoint = v.Path, v.Identity, v.URL
	}
	store := "-"
	if r.Token.Store != "" {
		store = r.Token.Store
	}
	return strings.Join([]string{label, keyID, email, endpoint, strings.ReplaceAll(r.Secret, "-", " "), store, r.Token.describe(), cmp.Or(r.KeyAge, "-")}, "\t")
}

// describe is t as the table's CACHED TOKEN column says it, with the
// refresh back-off when one holds (its failure is in -o json).
func (t *tokenState) describe() string {
	if b := t.RefreshBackoff; b != nil {
		return fmt.Sprintf("%s; refresh failing since %s, next attempt %s", t.state(), b.FailedAt.Format(time.RFC3339), b.NextAttempt.Format(time.RFC3339))
	}
	return t.state()
}

// state is t's state as the table says it.
func (t *tokenState) state() string {
	switch t.State {
	case "other-identity":
		return "none (cached for another identity)"
	case "unreadable":
		return "unreadable: " + t.Error
	case "expired":
		return "expired " + t.ExpiresAt.Format(time.RFC3339)
	case "valid":
		return fmt.Sprintf("valid until %s (%s left)", t.ExpiresAt.Format(time.RFC3339), time.Duration(t.ExpiresIn)*time.Second)
	}
	return t.State
}

// describeStore names the backend tokens are cached in and, when auto fell
// back to files or the backend does not work, why. The auto store picks
// its backend on its first call, so before any read it would say "keyring"
// for a keyring that cannot be reached; one lookup settles it. The lookup
// never unlocks or prompts, and is bounded by the keyring timeout. Its
// error is the lookup's when the store does not work (doctor fails on it),
// nil when it does, a missing entry included.
func describeStore(store keyring.Store) (storeState, error) {
	_, err := store.Get(probeKey)
	// "file (why it fell back)": the store's own form (keyring.AutoStore).
	name, note, _ := strings.Cut(store.Name(), " (")
	s := storeState{Store: name, Note: strings.TrimSuffix(note, ")")}
	if err == nil || errors.Is(err, keyring.ErrNotFound) {
		return s, nil
	}
	// An explicit --cache keyring or file that does not work: say so here
	// too, not only when a token is fetched.
	s.Note = oneLine(err)
	return s, err
}

// cachedState describes acct's cached token in loc without showing it:
// read, never refreshed, and the store it is in.
func cachedState(ctx context.Context, loc keyring.Location, acct keyring.Account, now time.Time) *tokenState {
	// A cache without an upstream: Cached never refreshes.
	cache := keyring.NewCache(nil, keyring.CacheConfig{Location: loc, Account: acct})
	tok, err := cache.Cached(ctx)
	var held *backoffState
	if b := cache.Backoff(ctx); b != nil {
		held = &backoffState{FailedAt: b.Failed.UTC().Truncate(time.Second), NextAttempt: b.NotBefore.UTC().Truncate(time.Second), Error: auth.OneLine(b.Message)}
	}
	if errors.Is(err, keyring.ErrNotFound) || (err == nil && tok == nil) {
		return &tokenState{State: "none", RefreshBackoff: held}
	}
	// Asked after the read, which may have copied the entry up into the
	// kernel keyring: where later calls find it.
	t := &tokenState{RefreshBackoff: held}
	if store, herr := loc.Holder(acct); herr == nil {
		t.Store = store
	}
	switch {
	case errors.Is(err, keyring.ErrOtherIdentity):
		t.State = "other-identity"
	case err != nil:
		t.State, t.Error = "unreadable", oneLine(err)
	default:
		exp := tok.Expiry.UTC().Truncate(time.Second)
		t.ExpiresAt = &exp
		if t.State = "expired"; exp.After(now) {
			t.State, t.ExpiresIn = "valid", int64(exp.Sub(now)/time.Second)
		}
	}
	return t
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
