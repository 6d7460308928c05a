package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	dthosts "github.com/dt-credential-helper/dt-credential-helper/internal/hosts"

	"golang.org/x/term"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/internal/tokens"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// maxSecret bounds a secret read from stdin.
const maxSecret = 64 << 10

// runLogin stores a profile: it checks the command line, reads the secret
// (stdin or a prompt), checks it with one token request unless
// --no-verify, stores it in the profiles repository's secret store (the OS
// keyring, or a file with --store file), adds the profile to the profiles
// file under its lock, and removes the tokens cached for its account
// (forgetCached). It builds no token source. A Vault profile goes to
// loginVault.
func runLogin(ctx context.Context, e env, args []string) error {
	l, err := parseLogin(e, args)
	if err != nil {
		return err
	}
	tf, name := l.tf, l.name
	log := newLogger(e.stderr, tf.Verbose)
	profiles := profile.NewRepository(e.getenv, 0, log)
	prof := profile.Profile{KeyID: tf.KeyID, Email: tf.Email, TokenEndpoint: tf.TokenEndpoint, Hosts: l.hosts}
	if l.store == profile.SecretInFile {
		prof.SecretStore = profile.SecretInFile
	}
	if tf.Vault != (vaultenv.Reference{}) {
		return loginVault(ctx, e, profiles, name, tf, prof.Hosts, l.noVerify)
	}
	creds := auth.Credentials{KeyID: prof.KeyID, Email: prof.Email, TokenEndpoint: cmp.Or(prof.TokenEndpoint, auth.DefaultTokenEndpoint)}
	if err := creds.ValidateAccount(); err != nil {
		return usagef("login: %v", err)
	}
	secret, err := readSecret(e)
	if err != nil {
		return err
	}
	creds.Secret = secret

	if _, err := profiles.Path(); err != nil {
		return err
	}
	// Read now, so an untrusted or broken profiles file (a configuration
	// error) stops login before the network and the keyring; the write
	// below reads it again under its lock.
	before, err := profiles.File()
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	_, existed := before.Profiles[name]
	if !l.noVerify {
		// Check the credentials before storing anything: a typo must not
		// replace a working profile.
		src, err := auth.NewSource(creds, auth.WithTimeout(tf.Timeout), auth.WithLogger(log))
		if err != nil {
			return err
		}
		if _, err := src.TokenContext(ctx); err != nil {
			return fmt.Errorf("login: the credentials could not be checked, nothing was stored (use --no-verify to store them anyway): %w", err)
		}
	}
	if err := storeProfile(ctx, profiles, name, prof, l.store, secret, existed); err != nil {
		return err
	}
	if err := forgetCached(ctx, e, tf, log, profiles, name, creds); err != nil {
		if !onlyUnavailable(err) {
			return fmt.Errorf("login: profile %q stored, but a token its earlier secret obtained may still be served: "+
				"the tokens cached for its account could not be removed: %w; run login again", name, err)
		}
		// A keyring this process cannot reach serves no token to it
		// either, and a token there expires within the hour.
		fmt.Fprintf(e.stderr, "%s: warning: %s\n", prog, oneLine(err))
	}
	fmt.Fprintf(e.stderr, "%s: profile %q stored (key id %s); use it with --profile %s or %s=%s\n", prog, name, prof.KeyID, name, profile.EnvProfile, name)
	return nil
}

// loginCommand is login's command line, checked.
type loginCommand struct {
	tf       tokenFlags
	name     string   // the profile
	hosts    []string // --hosts, each checked
	noVerify bool
	store    string // where the secret goes: profile.SecretInKeyring or SecretInFile
}

// parseLogin parses and checks login's command line, before the secret is
// read: a bad command line costs no typing.
func parseLogin(e env, args []string) (loginCommand, error) {
	var l loginCommand
	var hosts string
	fs := newFlagSet(e, "login", "login --profile NAME --key-id ID --email EMAIL [--token-endpoint URL] [--store keyring|file] < secret\n   or: "+prog+" login --profile NAME --vault-path PATH [--vault-role ROLE --vault-jwt-file FILE]")
	fs.StringVar(&l.tf.Profile, "profile", "", "profile name (required)")
	l.tf.RegisterAccount(fs.FlagSet)
	fs.StringVar(&hosts, "hosts", "", "extra hosts (host or host:port, comma separated) the git and docker helpers give this profile's tokens to")
	l.tf.RegisterVault(fs.FlagSet, false)
	fs.BoolVar(&l.noVerify, "no-verify", false, "store the profile without fetching a token to check it")
	fs.StringVar(&l.store, "store", profile.SecretInKeyring, "where the secret is kept: keyring (the OS keyring) or file (a private file under the config directory, for machines without a keyring)")
	fs.DurationVar(&l.tf.Timeout, "timeout", auth.DefaultTimeout, "give up checking the credentials after this long")
	fs.BoolVar(&l.tf.Verbose, "verbose", false, "log each step to stderr (never a secret or token)")
	if err := parse(fs, args, false); err != nil {
		return l, err
	}
	l.name = cmp.Or(l.tf.Profile, e.getenv(profile.EnvProfile))
	if l.name == "" {
		return l, usagef("login: --profile is required")
	}
	if err := profile.ValidateName(l.name); err != nil {
		return l, usagef("login: %v", err)
	}
	if l.store != profile.SecretInKeyring && l.store != profile.SecretInFile {
		return l, usagef("login: --store %.40q: want keyring or file", l.store)
	}
	if l.tf.Timeout <= 0 {
		return l, usagef("login: --timeout must be positive")
	}
	// Checked now, as the git and docker helpers will read them: one bad
	// entry stored would fail every later git and docker call.
	routes, err := dthosts.ParseList(hosts, l.name)
	if err != nil {
		return l, usagef("login: --hosts: %v", err)
	}
	for _, r := range routes {
		l.hosts = append(l.hosts, r.String())
	}
	return l, nil
}

// storeProfile stores secret in store and then prof as profile name (which
// existed before or not), taking the secret back when the profile cannot
// be saved and it did not exist, and removing a copy of the secret from
// the other store.
func storeProfile(ctx context.Context, profiles *profile.Repository, name string, prof profile.Profile, store, secret string, existed bool) error {
	secrets, err := profiles.Secrets(store)
	if err != nil {
		return err
	}
	if err := secrets.Set(profile.SecretKey(name), []byte(secret)); err != nil {
		if errors.Is(err, keyring.ErrUnreachable) {
			return fmt.Errorf("login: no OS keyring is available to keep the secret of profile %q, nothing was stored (%w); "+
				"on a machine without one, keep it in a private file instead: add --store file", name, err)
		}
		return fmt.Errorf("login: storing the secret of profile %q in the %s: %w", name, store, err)
	}
	// Under the file's lock: concurrent logins each add their profile.
	err = profiles.Update(ctx, func(f *profile.File) (bool, error) {
		f.Profiles[name] = prof
		return true, nil
	})
	if err != nil {
		if !existed {
			// A secret no profile names is a secret nobody will remove.
			if secrets.Delete(profile.SecretKey(name)) == nil {
				return fmt.Errorf("login: the profile %q could not be saved, nothing was stored: %w", name, err)
			}
		}
		return fmt.Errorf("login: the secret of profile %q is in the %s, but the profile could not be saved: %w", name, store, err)
	}
	// A login that moves the secret leaves no copy where it was. Best
	// effort: a keyring that is missing answers at once, a hung one within
	// its bound, and either way the new secret is stored.
	other := profile.SecretInFile
	if store == profile.SecretInFile {
		other = profile.SecretInKeyring
	}
	if old, err := profiles.Secrets(other); err == nil {
		_ = old.Delete(profile.SecretKey(name))
	}
	return nil
}

// forgetCached removes the tokens cached for profile name's account, which
// a login has just given a secret (verified: the account it checked): the
// account as the token command resolves the profile here, and as login
// gave it. A profile's cached token is served without reading its secret
// (a hit never reads the Secret Service), so a token an earlier secret
// obtained must go with it: the new secret may be wrong (--no-verify).
func forgetCached(ctx context.Context, e env, tf tokenFlags, log *slog.Logger, profiles *profile.Repository, name string, verified auth.Credentials) error {
	// Whatever DT_TOKEN_CACHE says: keyring.Forget clears every store.
	tf.Cache = string(keyring.ModeAuto)
	cfg, err := tf.config(e, log)
	if err != nil {
		return err
	}
	accounts := []keyring.Account{tokens.CacheAccount(verified)}
	if a, err := tokens.Resolve(cfg, profiles, name); err == nil && a.Vault == nil && a.Cache.Key() != accounts[0].Key() {
		accounts = append(accounts, a.Cache)
	}
	var errs []error
	for _, acct := range accounts {
		err := keyring.Forget(ctx, cfg.Location(), acct)
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			// One list, so that onlyUnavailable sees each store's error.
			errs = append(errs, j.Unwrap()...)
		} else if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// readSecret reads the secret from a no-echo prompt on a terminal, else from
// all of stdin (one line end at its end removed).
func readSecret(e env) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, "Service account secret: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("login: reading the secret: %w", err)
		}
		return validSecret(string(b))
	}
	b, err := io.ReadAll(io.LimitReader(e.stdin, maxSecret+1))
	if err != nil {
		return "", fmt.Errorf("login: reading the secret from stdin: %w", err)
	}
	if len(b) > maxSecret {
		return "", usagef("login: the secret on stdin is longer than %d bytes", maxSecret)
	}
	return validSecret(string(b))
}

// validSecret applies auth.CleanSecret, the rule the Vault engine applies too.
func validSecret(s string) (string, error) {
	s, err := auth.CleanSecret(s)
	if errors.Is(err, auth.ErrNoSecret) {
		return "", usagef("login: no secret given: pipe it on stdin or type it at the prompt")
	}
	if err != nil {
		return "", usagef("login: %v", err)
	}
	return s, nil
}

// runLogout removes a profile: its cached tokens from every token store
// (keyring.Forget), its secret from the profiles repository, and then the
// profile from the profiles file, which stays when anything before failed,
// so that logout can be run again. A Vault profile goes to logoutVault.
func runLogout(ctx context.Context, e env, args []string) error {
	var tf tokenFlags
	fs := newFlagSet(e, "logout", "logout --profile NAME [--key-id ID --email EMAIL [--token-endpoint URL]]")
	fs.about = "Removes the profile from the profiles file, its secret from the keyring, and its cached\n" +
		"tokens from the keyring and the file cache. The account flags are needed only for a\n" +
		"profile that is no longer in the profiles file: they say whose cached tokens to remove."
	fs.StringVar(&tf.Profile, "profile", "", "profile name (required)")
	tf.RegisterAccount(fs.FlagSet)
	fs.BoolVar(&tf.Verbose, "verbose", false, "log each step to stderr")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	name := cmp.Or(tf.Profile, e.getenv(profile.EnvProfile))
	if name == "" {
		return usagef("logout: --profile is required")
	}
	if err := profile.ValidateName(name); err != nil {
		return usagef("logout: %v", err)
	}
	if (tf.KeyID == "") != (tf.Email == "") {
		return usagef("logout: --key-id and --email go together")
	}
	// Whatever DT_TOKEN_CACHE says: the profile's tokens may be in the
	// keyring or in files, and keyring.Forget clears both.
	tf.Cache = string(keyring.ModeAuto)
	cfg, err := tf.config(e, nil)
	if err != nil {
		return err
	}
	profiles := profile.NewRepository(e.getenv, cfg.KeyringTimeout, cfg.Log)
	path, err := profiles.Path()
	if err != nil {
		return err
	}
	files, err := profiles.File()
	if err != nil {
		return err
	}
	prof, inFile := files.Profiles[name]
	if inFile && prof.Vault != nil {
		return logoutVault(ctx, e, cfg, profiles, name)
	}
	// The secret is where the profile says; for a profile no longer in the
	// file, in a secret file if there is one, else in the keyring. A secret
	// file left by a login that later moved the secret to the keyring goes
	// too.
	fileSecrets, err := profiles.Secrets(profile.SecretInFile)
	if err != nil {
		return err
	}
	where := prof.SecretIn()
	if _, err := fileSecrets.Get(profile.SecretKey(name)); !inFile && err == nil {
		where = profile.SecretInFile
	}
	secrets, err := profiles.Secrets(where)
	if err != nil {
		return err
	}
	// One bounded read first: a keyring that does not answer would fail
	// every removal below, each after its own timeout.
	_, err = secrets.Get(profile.SecretKey(name))
	switch {
	case errors.Is(err, keyring.ErrNotFound):
		if !inFile && tf.KeyID == "" {
			// Neither in the file nor in the keyring: most likely a typo.
			_, err := files.Get(name)
			return auth.NewConfigError(fmt.Errorf("logout: %w", err))
		}
	case err != nil:
		return fmt.Errorf("logout of profile %q: nothing was removed: the keyring could not be read: %w; run logout again when it answers", name, err)
	}

	var errs []error
	var account keyring.Account
	switch {
	case inFile:
		// The account the profile's tokens are cached under, as the
		// token command resolves it.
		var a tokens.Account
		a, err = tokens.Resolve(cfg, profiles, name)
		account = a.Cache
	case tf.KeyID != "":
		given := auth.Credentials{KeyID: tf.KeyID, Email: tf.Email, TokenEndpoint: cmp.Or(tf.TokenEndpoint, auth.DefaultTokenEndpoint)}
		account, err = tokens.CacheAccount(given), given.ValidateAccount()
	default:
		err = fmt.Errorf("the profile is not in %s, so its account is not known: run logout again with --key-id and --email (its tokens expire within the hour anyway)", path)
	}
	if err == nil {
		err = keyring.Forget(ctx, cfg.Location(), account)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("its cached tokens were not removed: %w", err))
	}
	if err := secrets.Delete(profile.SecretKey(name)); err != nil {
		errs = append(errs, fmt.Errorf("its secret was not removed from the %s: %w", where, err))
	}
	if where != profile.SecretInFile {
		if err := fileSecrets.Delete(profile.SecretKey(name)); err != nil {
			errs = append(errs, fmt.Errorf("its secret file was not removed: %w", err))
		}
	}
	switch {
	case !inFile:
	case len(errs) > 0:
		// Kept, so that logout can be run again: the profile is what says
		// whose cached tokens to remove.
		errs = append(errs, errors.New("the profile stays in the profiles file so that logout can be run again"))
	default:
		err := profiles.Update(ctx, func(f *profile.File) (bool, error) {
			_, ok := f.Profiles[name]
			delete(f.Profiles, name)
			return ok, nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("the profile was not removed from the profiles file: %w", err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("logout of profile %q incomplete: %w", name, errors.Join(errs...))
	}
	fmt.Fprintf(e.stderr, "%s: profile %q removed\n", prog, name)
	return nil
}

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
	var out bytes.Buffer
	now := time.Now()
	tw := tabwriter.NewWriter(&out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tKEY ID\tEMAIL\tTOKEN ENDPOINT\tSECRET\tCACHED TOKEN")
	line := func(name string, secret string) {
		label := cmp.Or(name, "(environment)")
		a, err := tokens.Resolve(cfg, profiles, name)
		if err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t%s\n", label, oneLine(err))
			return
		}
		if a.Vault != nil {
			// KEY ID is the path, EMAIL the Vault identity, TOKEN
			// ENDPOINT the path's URL: there is no DT secret here.
			secret = "vault"
		}
		c := a.Cache
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", label, c.KeyID, c.Email, c.Endpoint, secret, cachedState(ctx, loc, c, now))
	}
	files, err := profiles.File()
	if err != nil {
		return err
	}
	if auth.FromEnv(e.getenv).KeyID != "" || tf.KeyID != "" || e.getenv(auth.EnvCredentialsFile) != "" || tf.CredentialsFile != "" ||
		tf.Vault.Path != "" || e.getenv(vaultenv.EnvPath) != "" {
		line("", "environment")
	}
	for _, n := range files.Names() {
		// Where the secret is kept, not whether it is there: reading every
		// profile's secret (a keyring prompt each, perhaps) to print a
		// word is not worth it; the token command says when it is missing.
		line(n, files.Profiles[n].SecretIn())
	}
	tw.Flush()
	fmt.Fprintf(&out, "\nToken cache: %s\n", describeStore(loc.Store))
	_, err = e.stdout.Write(out.Bytes())
	return err
}

// probeKey is a cache key no account has (keys are "token-" and a hash):
// status looks it up only to make the store choose its backend.
const probeKey = "status-probe"

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
