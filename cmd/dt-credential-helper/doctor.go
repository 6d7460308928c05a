package main

import (
	"context"
	"slices"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/doctor"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/internal/tokens"
)

// doctor checks, in one run, what a token needs, and says how to fix
// what fails, as git-credential-manager's `diagnose` does for it: the
// programs installed (doctor_install.go), the token cache's stores
// (doctor_cache.go), the profiles and their secrets (doctor_profiles.go),
// the network a token request takes and the token endpoint's clock
// (doctor_network.go), Vault (doctor_vault.go), one token fetch per account
// (doctor_fetch.go), and git's, docker's and kubectl's wiring
// (doctor_wiring.go). Each check adds lines to an internal/doctor report.
//
// It never prints a secret or a token: a secret's presence is asked of its
// store without reading it where the store can tell (profile.HasSecret), a
// fetched token is described by its lifetime, a proxy by its address
// without its user or password (auth.ProxyFor), a Vault identity by its
// lookup (never the Vault token); every line is one printable line.

const doctorAbout = `Checks what a token needs and says how to fix what fails, one line each:
the plugin program next to this one (present, trusted, same build); the
token cache's directory, the kernel keyring and the Secret Service (and
whose session bus it is); the profiles file and whether each profile's
secret is in place (never its value); the proxy and CA certificates a token
request uses; this machine's clock against the token endpoint's; for a
Vault account, Vault's health and who this machine is to it; one real token
fetch per account; and whether git, docker and kubectl are wired to this
helper for the DT hosts.

--offline skips what needs the network: the clock, Vault and the fetch.
Exit status 1 when a check fails (a warning does not fail), 2 on a bad
command line. Nothing printed is a secret or a token. -o json prints one
object: docs/doctor.md describes it.`

// doctorCheckIDs are the ids of doctor's checks, in the order it runs
// them: the one list docs/doctor.md's table is checked against.
func doctorCheckIDs() []string {
	return []string{
		"plugin-program", "cache-dir", "kernel-keyring", "secret-service", "token-cache",
		"profiles", "account", "secret", "proxy", "ca", "clock", "vault", "vault-identity", "token",
		"git", "docker", "kubectl",
	}
}

// doctorWait is --timeout's default: each network check's bound.
const doctorWait = 15 * time.Second

// doctorRun is one run of doctor: what the command line and environment
// say, and the report the checks add to.
type doctorRun struct {
	e        env
	tf       tokenFlags
	cfg      tokens.Config
	profiles *profile.Repository
	offline  bool
	report   *doctor.Report
	// accounts are the accounts to check: the environment's, then each
	// profile's (resolveAccounts).
	accounts []doctorAccount
	// defaultProfile is the profile DT_PROFILE names, which
	// every call without --profile uses (git, docker and kubectl's too);
	// "" for none.
	defaultProfile string
}

// doctorAccount is an account doctor checks: a profile, or (name "") the
// flags' and environment's.
type doctorAccount struct {
	name     string
	secretIn string // where a profile's DT secret is kept; "" otherwise
	acct     tokens.Account
	err      error // why the account could not be resolved
	// noSecret says its secret is not in place: the fetch is skipped.
	noSecret bool
}

// label is how the account is named in the report.
func (a doctorAccount) label() string {
	if a.name == "" {
		return "(environment)"
	}
	return a.name
}

// doctorOutputs are doctor's output formats.
const doctorOutputs = "text|json"

// doctorLine is doctor's command line.
type doctorLine struct {
	tf      tokenFlags
	offline bool
	output  string
}

func (l *doctorLine) flags(e env) *flagSet {
	fs := newFlagSet(e, "doctor", "doctor [--offline] [-o "+doctorOutputs+"] [FLAGS]")
	fs.about = doctorAbout
	l.tf.RegisterLookup(fs.FlagSet)
	fs.BoolVar(&l.offline, "offline", false, "skip the checks that need the network: the clock, Vault and the token fetch")
	fs.DurationVar(&l.tf.Timeout, "timeout", doctorWait, "give up each network check after this long")
	fs.outputFlag(&l.output, doctorOutputs)
	return fs
}

func runDoctor(ctx context.Context, e env, args []string) error {
	var l doctorLine
	if err := parse(l.flags(e), args, false); err != nil {
		return err
	}
	d := &doctorRun{e: e, tf: l.tf, offline: l.offline}
	if d.tf.Timeout <= 0 {
		return usagef("doctor: --timeout must be positive")
	}
	cfg, err := d.tf.config(e, nil)
	if err != nil {
		return err
	}
	// Every profile is checked by name: the default profile (DT_PROFILE)
	// must not stand in for the environment's account; that it names a
	// profile is a check of its own (checkDefaultProfile).
	d.defaultProfile, cfg.Profile = cfg.Profile, ""
	d.cfg = cfg
	d.profiles = profile.NewRepository(e.getenv, cfg.KeyringTimeout, cfg.Log)
	d.report = doctor.New(d.offline)
	d.run(ctx)
	if l.output == "json" {
		err = d.report.WriteJSON(e.stdout)
	} else {
		err = d.report.WriteText(e.stdout)
	}
	if err != nil {
		return err
	}
	if !d.report.OK {
		return &exitStatus{code: exitFailure}
	}
	return nil
}

// run runs every check, in the order a setup is made: what is installed,
// where tokens and secrets are kept, the accounts, the network, and the
// tools that ask for tokens.
func (d *doctorRun) run(ctx context.Context) {
	d.resolveAccounts()
	d.checkSibling(ctx)
	d.checkCache()
	d.checkProfiles()
	d.checkNetwork()
	if d.offline {
		for _, id := range []string{"clock", "vault", "token"} {
			d.add(id, "", doctor.Skip, "--offline: not checked", "")
		}
	} else {
		d.checkClock(ctx)
		d.checkVault(ctx)
		d.checkFetch(ctx)
	}
	d.checkWiring(ctx)
}

// add adds a check to the report.
func (d *doctorRun) add(id, subject string, status doctor.Status, detail, fix string) {
	d.report.Add(doctor.Check{ID: id, Subject: subject, Status: status, Detail: detail, Fix: fix})
}

// bounded is ctx bounded by --timeout, for one network check.
func (d *doctorRun) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.tf.Timeout)
}

// endpoints are the distinct token endpoints of the DT accounts, or DT's
// own when there is none: where a token request goes.
func (d *doctorRun) endpoints() []string {
	var out []string
	for _, a := range d.accounts {
		if a.err != nil || a.acct.Vault != nil {
			continue
		}
		if ep := a.acct.Cache.Endpoint; !slices.Contains(out, ep) {
			out = append(out, ep)
		}
	}
	if len(out) == 0 && !d.anyVault() {
		out = append(out, auth.DefaultTokenEndpoint)
	}
	return out
}

// anyVault reports whether an account reads its tokens from Vault.
func (d *doctorRun) anyVault() bool {
	for _, a := range d.accounts {
		if a.err == nil && a.acct.Vault != nil {
			return true
		}
	}
	return false
}
