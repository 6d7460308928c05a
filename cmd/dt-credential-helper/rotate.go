package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/internal/rotation"
	"github.com/dt-credential-helper/dt-credential-helper/internal/tokens"
	"github.com/dt-credential-helper/dt-credential-helper/serviceaccount"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// rotateCommand is rotate's command line, checked.
type rotateCommand struct {
	tf      tokenFlags
	name    string
	keepOld bool
	apiURL  string
	id      serviceaccount.ID // given by --project and --service-account
}

// runRotate replaces the DT key of a profile whose secret this program
// keeps (internal/rotation): a new key is created with a token of the
// current one, stored beside it, proven and switched to, the old key's
// cached tokens removed, and the old key deleted unless --keep-old. A rerun finishes
// what an interrupted one left. It prints what it did, never a secret.
func runRotate(ctx context.Context, e env, args []string) error {
	c, err := parseRotate(e, args)
	if err != nil {
		return err
	}
	log := newLogger(e.stderr, c.tf.Verbose)
	profiles := profile.NewRepository(e.getenv, 0, log)
	a, err := profiles.Account(c.name)
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	if a.Vault != nil {
		return misconfig.Errorf("rotate: profile %q reads its tokens from Vault (%s), which keeps its key: rotate it there: `%s`",
			c.name, a.Vault.Path, vaultRotate(*a.Vault))
	}
	cfg, err := c.config(e, profiles, a)
	if err != nil {
		return err
	}
	cfg.Log = log
	rep, err := rotation.Rotate(ctx, cfg)
	printRotation(e, rep, err == nil)
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	return nil
}

func (l *rotateCommand) flags(e env) *flagSet {
	fs := newFlagSet(e, "rotate", "rotate --profile NAME [--keep-old] [--api-url URL] [--project ID --service-account ID]")
	fs.about = "Replaces the DT key of a profile stored with 'login' (keyring or --store file): creates a new key\n" +
		"with a token of the current one, stores its secret beside the old one, proves it obtains a token,\n" +
		"switches the profile to it, removes the old key's cached tokens, then deletes the old key at DT. Killed at any\n" +
		"point, the profile keeps a secret that works, and running rotate again finishes the job. The\n" +
		"service account needs the right to manage its keys (the Project Administrator role in its project)."
	fs.StringVar(&l.tf.Profile, "profile", "", "profile to rotate (env "+profile.EnvProfile+")")
	fs.BoolVar(&l.keepOld, "keep-old", false, "keep the old key at DT, for machines still using it")
	fs.StringVar(&l.apiURL, "api-url", "", "DT's REST API (env "+serviceaccount.EnvAPIURL+"; default "+serviceaccount.DefaultAPIURL+")")
	fs.StringVar(&l.id.Project, "project", "", "the service account's project id (default: from its email, <sa>@<project>."+serviceaccount.EmailDomain+")")
	fs.StringVar(&l.id.ServiceAccount, "service-account", "", "the service account's id (default: from its email)")
	fs.DurationVar(&l.tf.Timeout, "timeout", auth.DefaultTimeout, "give up each request to DT after this long")
	fs.BoolVar(&l.tf.Verbose, "verbose", false, "log each step to stderr (never a secret or token)")
	return fs
}

// parseRotate parses and checks rotate's command line.
func parseRotate(e env, args []string) (rotateCommand, error) {
	var c rotateCommand
	fs := c.flags(e)
	if err := parse(fs, args, false); err != nil {
		return c, err
	}
	c.name = cmp.Or(c.tf.Profile, e.getenv(profile.EnvProfile))
	var idErr error
	if c.id != (serviceaccount.ID{}) {
		_, idErr = serviceaccount.Resolve(c.id.Project, c.id.ServiceAccount, "")
	}
	switch {
	case c.name == "":
		return c, noProfileToRotate(e)
	case c.tf.Timeout <= 0:
		return c, usagef("rotate: --timeout must be positive")
	case errors.Is(idErr, serviceaccount.ErrHalfNamed):
		return c, usagef("rotate: --project and --service-account go together")
	}
	if err := profile.ValidateName(c.name); err != nil {
		return c, usagef("rotate: %v", err)
	}
	if idErr != nil {
		return c, usagef("rotate: %v", idErr)
	}
	c.apiURL = cmp.Or(c.apiURL, e.getenv(serviceaccount.EnvAPIURL), serviceaccount.DefaultAPIURL)
	if err := serviceaccount.CheckAPIURL(c.apiURL); err != nil {
		return c, usagef("rotate: --api-url: %v", err)
	}
	return c, nil
}

// noProfileToRotate is the error for a rotate without a profile: a secret
// from the environment or a credentials file is its owner's to replace.
func noProfileToRotate(e env) error {
	file := e.getenv(auth.EnvCredentialsFile)
	switch {
	case e.getenv(auth.EnvSecret) != "":
		return usagef("rotate: the secret in %s is not this program's to replace: create a new key in DT Studio "+
			"(API Integrations, Service Accounts), set %s and %s to it, then delete the old key there; "+
			"or keep the secret in a profile (`%s login --profile NAME`) and rotate that with --profile NAME",
			auth.EnvSecret, auth.EnvKeyID, auth.EnvSecret, prog)
	case file != "":
		return usagef("rotate: the secret in the credentials file %s (%s) is not this program's to replace: create a new key in DT Studio "+
			"(API Integrations, Service Accounts), write it to the file, then delete the old key there; "+
			"or keep the secret in a profile (`%s login --profile NAME`) and rotate that with --profile NAME",
			file, auth.EnvCredentialsFile, prog)
	}
	return usagef("rotate: --profile is required: rotate replaces the key of a profile stored with 'login'")
}

// vaultRotate is the command that rotates the key behind Vault path ref:
// the engine's accounts/NAME/rotate beside its token/NAME.
func vaultRotate(ref vaultenv.Reference) string {
	const token = "/token/"
	i := strings.LastIndex(ref.Path, token)
	if i < 0 {
		return "vault write -f <mount>/accounts/<name>/rotate"
	}
	return "vault write -f " + ref.Path[:i] + "/accounts/" + ref.Path[i+len(token):] + "/rotate"
}

// config is the rotation of DT profile a: its service account (the
// command line's, else its email's), its token endpoint as the token
// command resolves it, and the removal of cached tokens login uses.
func (c rotateCommand) config(e env, profiles *profile.Repository, a profile.Account) (rotation.Config, error) {
	id, err := serviceaccount.Resolve(c.id.Project, c.id.ServiceAccount, a.Credentials.Email)
	if errors.Is(err, serviceaccount.ErrOtherEmail) {
		return rotation.Config{}, usagef("rotate: profile %q: %v: name the service account with --project and --service-account", c.name, err)
	} else if err != nil {
		return rotation.Config{}, usagef("rotate: profile %q: %v", c.name, err)
	}
	tcfg, err := c.tf.config(e, nil)
	if err != nil {
		return rotation.Config{}, err
	}
	resolved, err := tokens.Resolve(tcfg, profiles, c.name)
	if err != nil {
		return rotation.Config{}, fmt.Errorf("rotate: %w", err)
	}
	fcfg, err := forgetConfig(e, c.tf)
	if err != nil {
		return rotation.Config{}, err
	}
	return rotation.Config{
		Profiles:      profiles,
		Name:          c.name,
		ID:            id,
		APIURL:        c.apiURL,
		TokenEndpoint: resolved.Cache.Endpoint,
		KeepOld:       c.keepOld,
		Timeout:       c.tf.Timeout,
		Forget:        forgetTokens(fcfg, profiles),
	}, nil
}

// printRotation says what rotate did: keys reported as never stored and
// warnings always; the outcome when it succeeded. Key ids come from DT's
// answers: each is printed through auth.OneLine, though they are checked
// (serviceaccount.CheckID) before they are kept.
func printRotation(e env, rep *rotation.Report, done bool) {
	if rep == nil {
		return
	}
	for _, k := range rep.Unstored {
		fmt.Fprintf(e.stderr, "%s: warning: key %s of the service account%s may have been created by an interrupted rotation of profile %q, "+
			"and its secret was never stored here: if no machine of yours uses it, delete it in DT Studio (API Integrations, Service Accounts)\n",
			prog, auth.OneLine(k.ID), createdAt(k.CreateTime), rep.Profile)
	}
	printWarnings(e, rep.Warnings)
	if !done {
		return
	}
	newKey, oldKey := auth.OneLine(rep.NewKeyID), auth.OneLine(rep.OldKeyID)
	if stage := map[string]string{"staged": "its new key was stored", "switched": "it switched to its new key"}[rep.Resumed]; stage != "" {
		fmt.Fprintf(e.stderr, "%s: rotate: finished the rotation of profile %q that was interrupted after %s\n", prog, rep.Profile, stage)
	}
	store := map[string]string{profile.SecretInKeyring: "the OS keyring", profile.SecretInFile: "a private file"}[rep.Store]
	fmt.Fprintf(e.stderr, "%s: rotate: profile %q now uses key %s%s, proven to obtain a token and stored in %s (it replaces key %s)\n",
		prog, rep.Profile, newKey, createdAt(rep.NewKeyCreated), store, oldKey)
	if rep.Kept {
		fmt.Fprintf(e.stderr, "%s: rotate: old key %s kept at DT (--keep-old): machines still using it keep working; "+
			"delete it in DT Studio once they use the new key\n", prog, oldKey)
		return
	}
	fmt.Fprintf(e.stderr, "%s: rotate: old key %s deleted at DT: machines still using it can obtain no more tokens "+
		"(the tokens they hold stay valid until they expire, within the hour)\n", prog, oldKey)
}

// createdAt is " (created T)" for a known time, else "".
func createdAt(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " (created " + t.UTC().Format(time.RFC3339) + ")"
}
