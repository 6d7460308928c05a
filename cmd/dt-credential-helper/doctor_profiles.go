package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/doctor"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/internal/tokens"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// resolveAccounts lists the accounts doctor checks, as status lists them:
// the flags' and environment's when they name one, then every profile,
// each resolved as the token command would (tokens.Resolve), reading no
// secret but the environment's.
func (d *doctorRun) resolveAccounts() {
	if src, _ := accountSource(d.e, d.tf); src != "" {
		a, err := tokens.Resolve(d.cfg, d.profiles, "")
		d.accounts = append(d.accounts, doctorAccount{acct: a, err: err})
	}
	list, err := d.profiles.List()
	if err != nil {
		return // checkProfiles says why
	}
	for _, p := range list {
		a, err := tokens.Resolve(d.cfg, d.profiles, p.Name)
		d.accounts = append(d.accounts, doctorAccount{name: p.Name, secretIn: p.SecretIn, acct: a, err: err})
	}
}

// checkProfiles checks the profiles file, then each account: that it
// resolves, and for a DT account that its secret is in place, asked of the
// store that keeps it without reading it where the store can tell
// (profile.HasSecret), never shown.
func (d *doctorRun) checkProfiles() {
	path, _ := d.profiles.Path()
	f, err := d.profiles.File()
	switch {
	case err != nil:
		d.add("profiles", "", doctor.Fail, oneLine(err),
			"fix or move away the profiles file named above: it must be a regular file of yours that group and others cannot write, "+
				"in directories only you or root can change; then log in again")
	case len(f.Profiles) == 0:
		d.add("profiles", "", doctor.Pass, path+": no profile stored", "")
	default:
		d.add("profiles", "", doctor.Pass, fmt.Sprintf("%s: %d %s (%s)", path, len(f.Profiles), doctor.Plural(len(f.Profiles), "profile"), strings.Join(f.Names(), ", ")), "")
	}
	if err == nil {
		d.checkDefaultProfile(f)
	}
	for i := range d.accounts {
		d.checkAccount(&d.accounts[i])
	}
	if len(d.accounts) == 0 && err == nil {
		d.add("account", "", doctor.Warn, "no account: no profile is stored, and neither the flags nor the environment name one",
			"store one with 'dt-credential-helper login --profile NAME --key-id ID --email EMAIL', or set "+
				auth.EnvKeyID+", "+auth.EnvEmail+" and "+auth.EnvSecret)
	}
}

// checkDefaultProfile fails when DT_PROFILE names a profile f
// does not hold: every call that names none, git's, docker's and
// kubectl's included, would fail.
func (d *doctorRun) checkDefaultProfile(f *profile.File) {
	name := d.defaultProfile
	if name == "" {
		return
	}
	if _, ok := f.Profiles[name]; ok {
		return
	}
	from := profile.EnvProfile
	d.add("account", name, doctor.Fail,
		fmt.Sprintf("%s names the profile %q, which is not stored: every call that names no profile (git's, docker's and kubectl's too) fails", from, name),
		"log in to it ('"+prog+" login --profile "+name+" ...'), or correct or unset "+from+" ('"+prog+" status' lists the profiles)")
}

// checkAccount checks one account and, for a DT account, its secret.
func (d *doctorRun) checkAccount(a *doctorAccount) {
	switch {
	case a.err != nil:
		d.add("account", a.label(), doctor.Fail, oneLine(a.err),
			"correct what the message names; 'dt-credential-helper status' shows what is configured")
	case a.acct.Vault != nil:
		d.add("account", a.label(), doctor.Pass, "reads its tokens from the Vault path "+a.acct.Vault.Path+" (no DT secret here; see vault)", "")
	case a.name == "":
		from := "the credentials file"
		if d.e.getenv(auth.EnvSecret) != "" {
			from = auth.EnvSecret
		}
		d.add("secret", a.label(), doctor.Pass, fmt.Sprintf("key id %s: the secret comes from %s (not shown)", a.acct.Cache.KeyID, from), "")
	default:
		d.checkProfileSecret(a)
	}
}

// checkProfileSecret asks the store profile a keeps its secret in whether
// it is there.
func (d *doctorRun) checkProfileSecret(a *doctorAccount) {
	login := fmt.Sprintf("%s login --profile %s --key-id %s --email %s", prog, a.name, a.acct.Cache.KeyID, a.acct.Cache.Email)
	if a.secretIn == profile.SecretInFile {
		login += " --store file"
	}
	where := "the OS keyring"
	if a.secretIn == profile.SecretInFile {
		where = "its private file"
	}
	ok, err := d.profiles.HasSecret(a.name)
	var perr *keyring.PermissionError
	switch {
	case err == nil && ok:
		d.add("secret", a.name, doctor.Pass, fmt.Sprintf("key id %s: in %s (looked up, not read out)", a.acct.Cache.KeyID, where), "")
		return
	case err == nil:
		d.add("secret", a.name, doctor.Fail, fmt.Sprintf("key id %s: no secret in %s", a.acct.Cache.KeyID, where), "store it again: "+login)
	case errors.As(err, &perr) && !errors.Is(err, fs.ErrNotExist):
		d.add("secret", a.name, doctor.Fail, oneLine(err),
			"a secret file only you may read is trusted (the message says what is wrong); or store it again: "+login)
	case errors.Is(err, keyring.ErrUnreachable):
		d.add("secret", a.name, doctor.Fail, oneLine(err),
			"unlock the keyring (a desktop login does), or, on a machine without one, keep the secret in a private file: "+login+" --store file")
	default:
		d.add("secret", a.name, doctor.Fail, oneLine(err), "store it again: "+login)
	}
	a.noSecret = true
}
