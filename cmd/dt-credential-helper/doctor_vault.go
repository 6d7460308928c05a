package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/internal/doctor"
	"github.com/dt-credential-helper/dt-credential-helper/internal/sibling"
	"github.com/dt-credential-helper/dt-credential-helper/internal/vaultproc"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// vaultTTLWarn is how little may be left of a Vault token before doctor
// warns that it is about to stop working.
const vaultTTLWarn = 10 * time.Minute

// checkVault checks each Vault account: Vault's health, and who this
// machine is to it (its Vault token's lookup, or a JWT login's) and
// whether that identity may read the path. The helper links no Vault
// client: the plugin program answers, run as a child as for a read
// (vaultproc.Source.Identity), and reads no DT token.
func (d *doctorRun) checkVault(ctx context.Context) {
	for _, a := range d.accounts {
		if a.err == nil && a.acct.Vault != nil {
			d.vaultOf(ctx, a)
		}
	}
}

// vaultOf checks Vault account a.
func (d *doctorRun) vaultOf(ctx context.Context, a doctorAccount) {
	v := *a.acct.Vault
	var stderr io.Writer
	if d.tf.Verbose {
		stderr = d.e.stderr
	}
	src, err := vaultproc.NewSource(vaultproc.Config{
		Vault:   v,
		Program: func() (string, error) { return sibling.Path(pluginProg, "asking Vault who this machine is") },
		Environ: d.e.environ(),
		Stderr:  stderr,
	})
	if err != nil {
		d.add("vault", a.label(), doctor.Fail, oneLine(err), vaultFix(err, v, false))
		return
	}
	ctx, cancel := d.bounded(ctx)
	defer cancel()
	id, err := src.Identity(ctx)
	switch {
	case err != nil && !id.Initialized: // Vault's health is not known
		d.add("vault", a.label(), doctor.Fail, oneLine(err), vaultFix(err, v, false))
		return
	case !id.Initialized:
		d.add("vault", a.label(), doctor.Fail, id.Addr+": Vault is not initialized", "ask Vault's operators: it serves nothing until it is")
		return
	case id.Sealed:
		d.add("vault", a.label(), doctor.Fail, id.Addr+": Vault is sealed", "ask Vault's operators to unseal it")
		return
	}
	role := "active"
	if id.Standby {
		role = "a standby"
	}
	d.add("vault", a.label(), doctor.Pass, fmt.Sprintf("%s: initialized, unsealed, %s, version %s", id.Addr, role, id.Version), "")
	d.vaultIdentity(a, v, id, err)
}

// vaultIdentity reports who a's Vault identity is, from id, or why Vault
// would not say (err).
func (d *doctorRun) vaultIdentity(a doctorAccount, v vaultenv.Reference, id vaultenv.Identity, err error) {
	const check = "vault-identity"
	if err != nil {
		d.add(check, a.label(), doctor.Fail, oneLine(err), vaultFix(err, v, true))
		return
	}
	who := "the Vault token of the environment"
	if id.LoggedIn {
		who = "a JWT login as role " + v.Role
	}
	left := "never expires"
	if id.TTLSeconds > 0 {
		left = "expires in " + (time.Duration(id.TTLSeconds) * time.Second).String()
	}
	desc := fmt.Sprintf("%s (%q, policies %s) %s", who, id.DisplayName, strings.Join(id.Policies, ", "), left)
	switch {
	case !id.CanRead():
		d.add(check, a.label(), doctor.Fail, fmt.Sprintf("%s; its capabilities on %s are [%s], without read", desc, id.Path, strings.Join(id.Capabilities, " ")),
			"ask Vault's operators for a policy that allows read on "+id.Path+" for this identity")
	case id.TTLSeconds > 0 && time.Duration(id.TTLSeconds)*time.Second < vaultTTLWarn && !id.LoggedIn:
		d.add(check, a.label(), doctor.Warn, desc+"; may read "+id.Path, "renew the Vault token (vault token renew) or log in to Vault again before it expires")
	default:
		d.add(check, a.label(), doctor.Pass, desc+"; may read "+id.Path, "")
	}
}

// vaultFix is the fix for err, a failure to ask Vault about reference v;
// identity says the failure came after Vault's health was known.
func vaultFix(err error, v vaultenv.Reference, identity bool) string {
	var ve *vaultproc.Error
	if !errors.As(err, &ve) {
		return "see the message above"
	}
	switch ve.Kind {
	case vaultproc.Misconfigured:
		return "correct the Vault setting the message names (VAULT_ADDR, VAULT_TOKEN or ~/.vault-token, VAULT_CACERT, the JWT file and role)"
	case vaultproc.Permission:
		if identity {
			return "log in to Vault again (vault login, a new VAULT_TOKEN, or check the JWT and role)"
		}
		return "ask Vault's operators for a policy that allows read on " + v.Path
	case vaultproc.Transient:
		return "check that Vault is reachable from here (VAULT_ADDR, the proxy) and try again"
	}
	return "see the message above; '" + prog + " token --verbose' with this account shows each step"
}
