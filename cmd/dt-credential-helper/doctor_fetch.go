package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/doctor"
	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/internal/tokens"
	"github.com/dt-credential-helper/dt-credential-helper/internal/vaultproc"
)

// checkFetch fetches one token for each account, as `token
// --force-refresh` would: the whole way (the secret read from its store,
// the DT exchange or the Vault read, the cache written), so that what the
// checks before could only suggest is tried. The token is described by its
// lifetime, never shown.
func (d *doctorRun) checkFetch(ctx context.Context) {
	var sources *tokens.Sources
	for _, a := range d.accounts {
		switch {
		case a.err != nil:
			continue // checkProfiles said why
		case a.noSecret:
			d.add("token", a.label(), doctor.Skip, "not fetched: its secret is not in place (above)", "")
			continue
		}
		if sources == nil {
			sources = tokens.New(d.cfg, d.profiles)
		}
		d.fetch(ctx, sources, a)
	}
}

// fetch fetches a token for account a.
func (d *doctorRun) fetch(ctx context.Context, sources *tokens.Sources, a doctorAccount) {
	src, err := sources.Source(a.name)
	if err != nil {
		d.add("token", a.label(), doctor.Fail, oneLine(err), fetchFix(err, a))
		return
	}
	ctx, cancel := d.bounded(ctx)
	defer cancel()
	tok, err := src.Refresh(ctx)
	if err != nil {
		d.add("token", a.label(), doctor.Fail, oneLine(err), fetchFix(err, a))
		return
	}
	from := "from " + a.acct.Cache.Endpoint
	if a.acct.Vault != nil {
		from = "from the Vault path " + a.acct.Vault.Path
	}
	d.add("token", a.label(), doctor.Pass, fmt.Sprintf("a token %s, valid for %s, now cached (not shown)", from, time.Until(tok.Expiry).Round(time.Second)), "")
}

// fetchFix is the fix for err, a failed fetch for account a.
func fetchFix(err error, a doctorAccount) string {
	var ae *auth.Error
	var ve *vaultproc.Error
	switch {
	case errors.As(err, &ae) && ae.Kind == auth.Rejected:
		again := "set the right secret"
		if a.name != "" {
			again = fmt.Sprintf("store it again with '%s login --profile %s ...'", prog, a.name)
		}
		return "the identity service refused the account: check the key id, email and secret (" + again +
			"), that the key is active in DT Studio, and this machine's clock (above)"
	case errors.As(err, &ae) && ae.Kind == auth.Transient:
		return fixNetwork + "; then try again"
	case errors.As(err, &ae):
		return "the token endpoint answered with something that is not a token: check its URL (--token-endpoint, " + auth.EnvTokenEndpoint + ")"
	case errors.As(err, &ve) && a.acct.Vault != nil:
		return vaultFix(err, *a.acct.Vault, false)
	case misconfig.Is(err):
		return "correct what the message names; 'dt-credential-helper status' shows what is configured"
	}
	return "see the message above; '" + prog + " token --verbose' with this account shows each step"
}
