package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	dthosts "github.com/dt-credential-helper/dt-credential-helper/internal/hosts"

	"golang.org/x/term"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// maxSecret bounds a secret read from stdin.
const maxSecret = 64 << 10

func runLogin(ctx context.Context, e env, args []string) error {
	var tf tokenFlags
	var hosts string
	var noVerify bool
	fs := newFlagSet(e, "login", "login --profile NAME --key-id ID --email EMAIL [--token-endpoint URL] < secret")
	fs.StringVar(&tf.Profile, "profile", "", "profile name (required)")
	tf.RegisterAccount(fs.FlagSet)
	fs.StringVar(&hosts, "hosts", "", "extra hosts (host or host:port, comma separated) the git and docker helpers give this profile's tokens to")
	fs.BoolVar(&noVerify, "no-verify", false, "store the profile without fetching a token to check it")
	fs.DurationVar(&tf.Timeout, "timeout", auth.DefaultTimeout, "give up checking the credentials after this long")
	fs.BoolVar(&tf.Verbose, "verbose", false, "log each step to stderr (never a secret or token)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	name := firstNonEmpty(tf.Profile, e.getenv(profile.EnvProfile))
	if name == "" {
		return usagef("login: --profile is required")
	}
	if err := profile.ValidateName(name); err != nil {
		return usagef("login: %v", err)
	}
	prof := profile.Profile{KeyID: tf.KeyID, Email: tf.Email, TokenEndpoint: tf.TokenEndpoint}
	// Checked now, as the git and docker helpers will read them: one bad
	// entry stored would fail every later git and docker call.
	routes, err := dthosts.ParseList(hosts, name)
	if err != nil {
		return usagef("login: --hosts: %v", err)
	}
	for _, r := range routes {
		prof.Hosts = append(prof.Hosts, r.String())
	}
	creds := auth.Credentials{KeyID: prof.KeyID, Email: prof.Email, TokenEndpoint: firstNonEmpty(prof.TokenEndpoint, auth.DefaultTokenEndpoint)}
	if err := creds.ValidateAccount(); err != nil {
		return usagef("login: %v", err)
	}
	secret, err := readSecret(e)
	if err != nil {
		return err
	}
	creds.Secret = secret

	path, err := profile.DefaultPath(e.getenv)
	if err != nil {
		return err
	}
	file, err := profile.Load(path)
	if err != nil {
		return err
	}
	if tf.Timeout <= 0 {
		return usagef("login: --timeout must be positive")
	}
	p, err := tf.provider(e, nil)
	if err != nil {
		return err
	}
	if !noVerify {
		// Check the credentials before storing anything: a typo must not
		// replace a working profile.
		src, err := auth.NewSource(creds, auth.WithTimeout(tf.Timeout), auth.WithLogger(newLogger(e.stderr, tf.Verbose)))
		if err != nil {
			return err
		}
		if _, err := src.TokenContext(ctx); err != nil {
			return fmt.Errorf("login: the credentials could not be checked, nothing was stored (use --no-verify to store them anyway): %w", err)
		}
	}
	secrets, err := p.SecretStore()
	if err != nil {
		return err
	}
	if err := secrets.Set(profile.SecretKey(name), []byte(secret)); err != nil {
		return fmt.Errorf("login: storing the secret of profile %q in the keyring: %w", name, err)
	}
	file.Profiles[name] = prof
	if err := file.Save(path); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "%s: profile %q stored (key id %s); use it with --profile %s or %s=%s\n", prog, name, prof.KeyID, name, profile.EnvProfile, name)
	return nil
}

// readSecret reads the secret from a no-echo prompt on a terminal, else from
// all of stdin (one trailing newline removed).
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
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	return validSecret(string(b))
}

func validSecret(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", usagef("login: no secret given: pipe it on stdin or type it at the prompt")
	}
	if strings.ContainsAny(s, "\x00\n") {
		return "", usagef("login: the secret must be one line without NUL bytes")
	}
	return s, nil
}

func runLogout(ctx context.Context, e env, args []string) error {
	var tf tokenFlags
	fs := newFlagSet(e, "logout", "logout --profile NAME")
	fs.StringVar(&tf.Profile, "profile", "", "profile name (required)")
	fs.BoolVar(&tf.Verbose, "verbose", false, "log each step to stderr")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	name := firstNonEmpty(tf.Profile, e.getenv(profile.EnvProfile))
	if name == "" {
		return usagef("logout: --profile is required")
	}
	// Auto whatever DT_TOKEN_CACHE says: its Delete clears the keyring and
	// the files, and the profile's tokens may be in either.
	tf.Cache = string(keyring.ModeAuto)
	p, err := tf.provider(e, nil)
	if err != nil {
		return err
	}
	files, err := p.Profiles()
	if err != nil {
		return err
	}
	if _, err := files.Get(name); err != nil {
		return &auth.ConfigError{Msg: "logout: " + err.Error(), Err: err}
	}
	var errs []error
	// The cached tokens go first: they need the profile to be found.
	if err := p.Invalidate(ctx, name, ""); err != nil {
		errs = append(errs, fmt.Errorf("removing cached tokens: %w", err))
	}
	if secrets, err := p.SecretStore(); err != nil {
		errs = append(errs, err)
	} else if err := secrets.Delete(profile.SecretKey(name)); err != nil {
		errs = append(errs, fmt.Errorf("removing the secret from the keyring: %w", err))
	}
	path, err := profile.DefaultPath(e.getenv)
	if err == nil {
		delete(files.Profiles, name)
		err = files.Save(path)
	}
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("logout of profile %q incomplete: %w", name, errors.Join(errs...))
	}
	fmt.Fprintf(e.stderr, "%s: profile %q removed\n", prog, name)
	return nil
}

func runStatus(ctx context.Context, e env, args []string) error {
	var tf tokenFlags
	fs := newFlagSet(e, "status", "status [FLAGS]")
	tf.RegisterLookup(fs.FlagSet)
	if err := parse(fs, args, false); err != nil {
		return err
	}
	p, err := tf.provider(e, nil)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	store, err := p.TokenStore()
	if err != nil {
		return err
	}
	now := time.Now()
	tw := tabwriter.NewWriter(&out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tKEY ID\tEMAIL\tTOKEN ENDPOINT\tSECRET\tCACHED TOKEN")
	line := func(name string) {
		label := name
		if label == "" {
			label = "(environment)"
		}
		src, err := p.Source(name)
		if err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t%s\n", label, oneLine(err))
			return
		}
		c, _ := p.Account(name)
		secret := "environment"
		if name != "" {
			secret = "keyring"
			if _, err := p.Secret(name); err != nil {
				secret = "missing"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", label, c.KeyID, c.Email, c.TokenEndpoint, secret, cachedState(ctx, src, now))
	}
	files, err := p.Profiles()
	if err != nil {
		return err
	}
	if auth.FromEnv(e.getenv).KeyID != "" || tf.KeyID != "" || e.getenv(auth.EnvCredentialsFile) != "" || tf.CredentialsFile != "" {
		line("")
	}
	for _, n := range files.Names() {
		line(n)
	}
	tw.Flush()
	fmt.Fprintf(&out, "\nToken cache: %s\n", describeStore(store))
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

// cachedState describes a cached token without showing it.
func cachedState(ctx context.Context, src *keyring.Source, now time.Time) string {
	tok, err := src.Cached(ctx)
	switch {
	case errors.Is(err, keyring.ErrNotFound) || (err == nil && tok == nil):
		return "none"
	case err != nil:
		return "unreadable: " + oneLine(err)
	case !tok.Expiry.After(now):
		return "expired " + tok.Expiry.UTC().Format(time.RFC3339)
	default:
		return fmt.Sprintf("valid until %s (%s left)", tok.Expiry.UTC().Format(time.RFC3339), tok.Expiry.Sub(now).Truncate(time.Second))
	}
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
