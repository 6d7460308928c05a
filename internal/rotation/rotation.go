// Package rotation replaces the DT key of a profile whose secret this
// program keeps (the command's rotate), as aws-vault rotates an access
// key: create a new key, prove it obtains a token, switch the profile to
// it, then delete the old key, saying what happened and never showing a
// secret.
//
// Every step that cannot be taken back is recorded first in the profile
// (profile.Rotation), so that a process killed at any point leaves a
// profile whose secret works, and the next run finishes the job: a staged
// key is proven and switched to, a switched profile's old key deleted, and
// a key that may have been created and never stored (its secret lost with
// the process) is reported by its id. The old key is never deleted before
// the new one has obtained a token and is the profile's. The profiles
// repository (internal/profile) owns the writes; this package decides
// their order and talks to DT (package serviceaccount, package auth).
package rotation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/serviceaccount"
)

// Config is one rotation.
type Config struct {
	Profiles *profile.Repository
	// Name is the profile, a DT profile whose secret the repository keeps.
	Name string
	// ID is the service account in the key API (from the profile's email,
	// or the command line).
	ID serviceaccount.ID
	// APIURL is DT's API ("" = serviceaccount.DefaultAPIURL), and
	// TokenEndpoint the profile's token endpoint, resolved.
	APIURL        string
	TokenEndpoint string
	// KeepOld keeps the old key at DT for machines still using it.
	KeepOld bool
	// Timeout bounds each exchange and each request of the key API.
	Timeout time.Duration
	// ProveFor bounds how long a new key may take to be accepted (zero:
	// serviceaccount.ProveFor, its most).
	ProveFor time.Duration
	// Forget removes the tokens cached for an account of the profile.
	Forget profile.ForgetTokens
	// HTTPClient, if set, makes every request (tests).
	HTTPClient *http.Client
	Log        *slog.Logger
	Now        func() time.Time
}

// Report is what a rotation did, never a secret.
type Report struct {
	Profile string
	// OldKeyID is the key replaced and NewKeyID the profile's key now,
	// created at NewKeyCreated, its secret kept in Store.
	OldKeyID, NewKeyID string
	NewKeyCreated      time.Time
	Store              string
	// OldDeleted says the old key was deleted at DT; Kept that it was
	// kept (KeepOld).
	OldDeleted, Kept bool
	// Resumed names the stage an interrupted rotation had reached, which
	// this one finished: "staged" or "switched"; "" for none.
	Resumed string
	// Unstored are keys an interrupted rotation may have created (created
	// while its create could act, not there when it began) and whose
	// secrets were never stored here: to delete at DT unless a machine
	// uses one.
	Unstored []serviceaccount.Key
	// Warnings are what was left undone without failing.
	Warnings []error
}

// run is one rotation under way.
type run struct {
	cfg  Config
	rep  *Report
	acct profile.Account        // the profile, as last read
	api  *serviceaccount.Client // with a token of the profile's key
	opts []auth.Option          // of every exchange
}

// Rotate rotates cfg.Name's key, finishing first what an interrupted
// rotation of it left. The report says what was done, also when the error
// says what then failed.
func Rotate(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &run{cfg: cfg, rep: &Report{Profile: cfg.Name}, opts: []auth.Option{auth.WithTimeout(cfg.Timeout), auth.WithLogger(cfg.Log)}}
	if cfg.HTTPClient != nil {
		r.opts = append(r.opts, auth.WithHTTPClient(cfg.HTTPClient))
	}
	unlock, err := cfg.Profiles.LockRotation(ctx, cfg.Name)
	if err != nil {
		return r.rep, err
	}
	defer unlock()
	// LockRotation forgot what was read before it: connect reads the
	// profile as a rotation or login before this one left it.
	if err := r.connect(ctx); err != nil {
		return r.rep, err
	}
	done, err := r.resume(ctx)
	if done || err != nil {
		return r.rep, err
	}
	return r.rep, r.fresh(ctx)
}

// connect reads the profile and gets a token of its key for the key API:
// a key that does not work cannot make another.
func (r *run) connect(ctx context.Context) error {
	if err := r.reload(); err != nil {
		return err
	}
	secret, err := r.cfg.Profiles.Secret(r.cfg.Name)
	if err != nil {
		return err
	}
	src, err := auth.NewSource(r.creds(r.acct.Credentials.KeyID, secret), r.opts...)
	if err != nil {
		return err
	}
	tok, err := src.TokenContext(ctx)
	if err != nil {
		return fmt.Errorf("profile %q: its key %s obtains no token, so it cannot create another: %w; log in with a key that works first",
			r.cfg.Name, r.acct.Credentials.KeyID, err)
	}
	return r.useToken(tok)
}

// reload reads the profile afresh.
func (r *run) reload() error {
	a, err := r.cfg.Profiles.Account(r.cfg.Name)
	if err != nil {
		return err
	}
	if a.Vault != nil {
		return fmt.Errorf("profile %q reads its tokens from Vault: rotate its key in Vault", r.cfg.Name)
	}
	r.acct = a
	r.rep.Store = a.SecretIn
	return nil
}

// creds is the profile's account with key keyID and its secret.
func (r *run) creds(keyID, secret string) auth.Credentials {
	c := r.acct.Credentials
	c.KeyID, c.Secret, c.TokenEndpoint = keyID, secret, r.cfg.TokenEndpoint
	return c
}

// useToken makes the key API's requests carry tok.
func (r *run) useToken(tok *oauth2.Token) error {
	var opts []serviceaccount.Option
	if r.cfg.HTTPClient != nil {
		opts = append(opts, serviceaccount.WithHTTPClient(r.cfg.HTTPClient))
	}
	api, err := serviceaccount.NewClient(r.cfg.APIURL, fixedToken{tok}, append(opts, serviceaccount.WithLogger(r.cfg.Log))...)
	r.api = api
	return err
}

// step bounds one request.
func (r *run) step(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.cfg.Timeout)
}

// fixedToken serves one token: the key API's requests of one stage carry
// the token its key obtained at its start, which lasts far longer.
type fixedToken struct{ tok *oauth2.Token }

func (f fixedToken) Token() (*oauth2.Token, error) { return f.tok, nil }

func (f fixedToken) TokenContext(context.Context) (*oauth2.Token, error) { return f.tok, nil }

// errNoRight explains a 403 of the key API.
func (r *run) errNoRight(err error) error {
	return fmt.Errorf("%w: service account %s may not manage its keys in project %s: give it the Project Administrator role "+
		"there (DT Studio: Project Settings, members), or create a new key in DT Studio and log in with it",
		err, r.acct.Credentials.Email, r.cfg.ID.Project)
}

// isNoRight reports a 403.
func isNoRight(err error) bool { return errors.Is(err, serviceaccount.ErrNoRight) }
