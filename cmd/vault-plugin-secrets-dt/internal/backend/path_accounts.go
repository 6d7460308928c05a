package backend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/serviceaccount"
)

// account is a stored service account. The secret is stored with it (the
// entry is seal-wrapped) and never returned by a read.
type account struct {
	KeyID         string `json:"key_id"`
	Email         string `json:"email"`
	Secret        string `json:"secret"`
	TokenEndpoint string `json:"token_endpoint"`
	// APIURL is DT's API, where a rotation creates and deletes keys; ""
	// in an entry written before it existed, meaning DT's.
	APIURL string `json:"api_url,omitempty"`
	// Project and ServiceAccount name the service account in the key
	// API, both or neither; neither means from the email
	// (serviceaccount.FromEmail), as the command's rotate takes them.
	Project        string `json:"project,omitempty"`
	ServiceAccount string `json:"service_account,omitempty"`
	// RotationPeriod is how often the periodic function rotates the key;
	// zero never.
	RotationPeriod time.Duration `json:"rotation_period,omitempty"`

	keyState
}

func (a *account) credentials() auth.Credentials {
	return auth.Credentials{KeyID: a.KeyID, Email: a.Email, Secret: a.Secret, TokenEndpoint: a.TokenEndpoint}
}

// apiURL is the account's API URL, DT's when none was written.
func (a *account) apiURL() string { return cmp.Or(a.APIURL, serviceaccount.DefaultAPIURL) }

// keyAPIID is the service account whose keys a rotation replaces: the
// project and service_account written, else the email's
// (serviceaccount.Resolve, the command's rule too).
func (a *account) keyAPIID() (serviceaccount.ID, error) {
	id, err := serviceaccount.Resolve(a.Project, a.ServiceAccount, a.Email)
	switch {
	case errors.Is(err, serviceaccount.ErrHalfNamed):
		return id, &auth.ConfigError{Msg: "project and service_account go together: write both, or neither to take them from the email"}
	case err != nil && a.Project == "":
		return id, &auth.ConfigError{Msg: err.Error() + ": write project and service_account to name the service account", Err: err}
	case err != nil:
		return id, &auth.ConfigError{Msg: err.Error(), Err: err}
	}
	return id, nil
}

// minRotationPeriod is the shortest rotation_period: Vault runs the
// periodic function about once a minute, so a shorter one rotates at
// every run, and a period of a few seconds is surely a mistake of unit.
const minRotationPeriod = 10 * time.Second

func accountFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"name": {
			Type:        framework.TypeString,
			Description: "Required. Name of the service account in this engine; tokens are read at token/<name>.",
		},
		"key_id": {
			Type:        framework.TypeString,
			Description: "Required on create. Key id of the DT service account key.",
		},
		"email": {
			Type:        framework.TypeString,
			Description: "Required on create. Email of the DT service account.",
		},
		"secret": {
			Type:        framework.TypeString,
			Description: "Required on create. Secret of the service account key. Write-only: never returned by a read. Omit on update to keep the stored one.",
			DisplayAttrs: &framework.DisplayAttributes{
				Sensitive: true,
			},
		},
		"token_endpoint": {
			Type:        framework.TypeString,
			Description: "Token endpoint of the DT identity service: https to a host dt/config allows (DT's by default), or plain http on a loopback host when dt/config allows it.",
			Default:     auth.DefaultTokenEndpoint,
		},
		"api_url": {
			Type:        framework.TypeString,
			Description: "DT's REST API, where rotations create and delete keys: https to a host dt/config allows (DT's by default), or plain http on a loopback host when dt/config allows it.",
			Default:     serviceaccount.DefaultAPIURL,
		},
		"project": {
			Type:        framework.TypeString,
			Description: "The service account's project id, with service_account; default: from the email, <service-account>@<project>.serviceaccount.d21s.com.",
		},
		"service_account": {
			Type:        framework.TypeString,
			Description: "The service account's id, with project; default: from the email.",
		},
		"rotation_period": {
			Type:        framework.TypeDurationSecond,
			Description: "Rotate the key this often (\"30d\", \"720h\"; at least 10s), on Vault's periodic function, about once a minute; 0, the default, never.",
		},
	}
}

func (b *Backend) pathAccountsList() *framework.Path {
	return &framework.Path{
		Pattern: "accounts/?$",
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ListOperation: &framework.PathOperation{Callback: b.listAccounts},
		},
		HelpSynopsis:    "List the names of the configured DT service accounts.",
		HelpDescription: "List the names of the DT service accounts written to accounts/<name>. Read an account for its key, service account, endpoints, key age and rotation state; its secret is never returned.",
	}
}

func (b *Backend) pathAccounts() *framework.Path {
	return &framework.Path{
		Pattern:        "accounts/" + framework.GenericNameRegex("name"),
		Fields:         accountFields(),
		ExistenceCheck: b.accountExists,
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.CreateOperation: &framework.PathOperation{Callback: b.writeAccount},
			logical.UpdateOperation: &framework.PathOperation{Callback: b.writeAccount},
			logical.ReadOperation:   &framework.PathOperation{Callback: b.readAccount},
			logical.DeleteOperation: &framework.PathOperation{Callback: b.deleteAccount},
		},
		HelpSynopsis:    "Create, read, update or delete a DT service account.",
		HelpDescription: strings.TrimSpace(accountsHelp),
	}
}

const accountsHelp = `
This path configures a Disruptive Technologies service account from which
access tokens are minted at token/<name>. Create one in DT Studio (a service
account and a key: key id, secret) and write it here:

    $ vault write dt/accounts/prod key_id=... email=...@....serviceaccount.d21s.com secret=-

The secret is write-only: Vault stores it encrypted (and seal-wrapped where
the seal supports it), a read never returns it, and audit logs show it
HMAC'd. The token endpoint and api_url default to DT's; dt/config decides
which others an account may use (https to the hosts it allows, plain http on
the Vault host's loopback only when it sets allow_loopback_http).

accounts/<name>/rotate replaces the key with a new one the engine creates
through DT's API (api_url, default DT's; the service account named by
project and service_account, default from the email), so that nobody ever
sees its secret; rotation_period (e.g. 720h) does it periodically. A read
shows the key id, when its key was created (key_created, known for a key a
rotation created) and stored here (key_stored), its age in seconds
(key_age, from key_created, else key_stored), the next periodic rotation and
the last rotation's outcome; never a secret.

Updating an account keeps the fields not given, the secret included (but a
new key_id, token_endpoint or api_url needs the secret written again), and
drops its cached token; so does deleting it.
`

func storageKey(name string) string { return accountPrefix + name }

func (b *Backend) getAccount(ctx context.Context, s logical.Storage, name string) (*account, error) {
	return getEntry[account](ctx, s, storageKey(name), name, "entry")
}

// putAccount stores a as account name.
func putAccount(ctx context.Context, s logical.Storage, name string, a *account) error {
	return putEntry(ctx, s, storageKey(name), a)
}

func (b *Backend) accountExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	a, err := b.getAccount(ctx, req.Storage, d.Get("name").(string))
	return a != nil, err
}

func (b *Backend) listAccounts(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := req.Storage.List(ctx, accountPrefix)
	if err != nil {
		return nil, err
	}
	return logical.ListResponse(names), nil
}

func (b *Backend) readAccount(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	a, err := b.getAccount(ctx, req.Storage, name)
	if err != nil || a == nil {
		return nil, err
	}
	id, _ := a.keyAPIID() // shown empty when it cannot be had
	data := map[string]any{
		"key_id":          a.KeyID,
		"email":           a.Email,
		"token_endpoint":  a.TokenEndpoint,
		"api_url":         a.apiURL(),
		"project":         id.Project,
		"service_account": id.ServiceAccount,
		"rotation_period": int64(a.RotationPeriod / time.Second),
	}
	lease, err := b.getLease(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	a.describeRotation(data, lease, b.now())
	return &logical.Response{Data: data}, nil
}

func (b *Backend) writeAccount(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	// Against the rotations' own changes to the entry, on this node, the
	// active one, where every write is handled.
	b.accountsMu.Lock()
	defer b.accountsMu.Unlock()
	a, err := b.getAccount(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if a == nil {
		a = &account{TokenEndpoint: auth.DefaultTokenEndpoint, APIURL: serviceaccount.DefaultAPIURL}
	}
	old := *a
	newSecret, refusal := applyAccountFields(a, d)
	if refusal != nil {
		return refusal, nil
	}
	if refusal := changeRefusal(&old, a, newSecret); refusal != nil {
		return refusal, nil
	}
	if refusal, err := b.checkAccount(ctx, req.Storage, a); refusal != nil || err != nil {
		return refusal, err
	}
	a.schedule(&old, b.now())
	if err := putAccount(ctx, req.Storage, name, a); err != nil {
		return nil, err
	}
	return nil, b.dropToken(ctx, req.Storage, name)
}

// applyAccountFields sets the fields d gives on a and says whether a
// secret was given; a refusal when one cannot be taken.
func applyAccountFields(a *account, d *framework.FieldData) (newSecret bool, refusal *logical.Response) {
	for field, dst := range map[string]*string{
		"key_id": &a.KeyID, "email": &a.Email, "token_endpoint": &a.TokenEndpoint,
		"api_url": &a.APIURL, "project": &a.Project, "service_account": &a.ServiceAccount,
	} {
		if v, ok := d.GetOk(field); ok {
			*dst = strings.TrimSpace(v.(string))
		}
	}
	if v, ok := d.GetOk("rotation_period"); ok {
		p := time.Duration(v.(int)) * time.Second
		if p != 0 && p < minRotationPeriod {
			return false, logical.ErrorResponse("rotation_period %s: give 0 (never) or at least %s", p, minRotationPeriod)
		}
		a.RotationPeriod = p
	}
	// The CLI's rule: the line end a file leaves (secret=- < file) is not
	// part of the secret; any other whitespace is a mistake to refuse now
	// rather than meet at every token read as invalid_grant.
	if _, newSecret = d.GetOk("secret"); newSecret {
		var err error
		a.Secret, err = auth.CleanSecret(d.Get("secret").(string))
		if err != nil && !errors.Is(err, auth.ErrNoSecret) {
			return false, logical.ErrorResponse("%s", err.Error())
		}
	}
	return newSecret, nil
}

// changeRefusal refuses a change from old to a that the writer may not
// make.
//
// The stored secret stays with the key, the endpoint and the API it was
// written for: whoever may update an account but does not know its secret
// must not have assertions signed with it sent to an endpoint of their
// choosing, nor the account's tokens to an API of their choosing (which
// could hand the engine a key whose secret they know, or use the tokens
// themselves). project and service_account need no secret: they only say
// which service account the key API is asked about, and a rotation checks
// that the account's key is among that service account's keys before it
// creates anything, so a wrong one fails the rotation and changes nothing;
// a key a rotation created or replaced is deleted under the service
// account recorded with it (keyOwner), so a change cannot keep it at DT.
func changeRefusal(old, a *account, newSecret bool) *logical.Response {
	if old.Secret != "" && !newSecret && (a.KeyID != old.KeyID || a.TokenEndpoint != old.TokenEndpoint || a.apiURL() != old.apiURL()) {
		return logical.ErrorResponse("changing key_id, token_endpoint or api_url needs the secret again: write secret too")
	}
	// A key a rotation replaced is being deleted at DT: written back, it
	// would be deleted under the account.
	if a.KeyID != old.KeyID && slices.Contains(old.oldKeyIDs(), a.KeyID) {
		return logical.ErrorResponse("key %s was replaced by a rotation and is being deleted at DT: write another key", a.KeyID)
	}
	return nil
}

// dropToken forgets the token of account name, in memory and in storage,
// after the account changed.
func (b *Backend) dropToken(ctx context.Context, s logical.Storage, name string) error {
	b.forget(name)
	return s.Delete(ctx, tokenKey(name))
}

// checkAccount returns the refusal of an account that is incomplete or whose
// token endpoint or API URL the command line's rule or dt/config does not
// allow, or that cannot be rotated as its rotation_period says.
func (b *Backend) checkAccount(ctx context.Context, s logical.Storage, a *account) (*logical.Response, error) {
	var missing []string
	for _, f := range []struct{ name, value string }{{"key_id", a.KeyID}, {"email", a.Email}, {"secret", a.Secret}} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return logical.ErrorResponse("missing %s", strings.Join(missing, ", ")), nil
	}
	if err := auth.ValidateEndpoint(a.TokenEndpoint); err != nil {
		return logical.ErrorResponse("%s", err.Error()), nil
	}
	if err := serviceaccount.CheckAPIURL(a.apiURL()); err != nil {
		return logical.ErrorResponse("api_url: %s", err.Error()), nil
	}
	cfg, err := b.config(ctx, s)
	if err != nil {
		return nil, err
	}
	if err := cmp.Or(cfg.allows(a.TokenEndpoint), cfg.allowsAPI(a.apiURL())); err != nil {
		return logical.ErrorResponse("%s", err.Error()), nil
	}
	if _, err := a.keyAPIID(); err != nil && (a.RotationPeriod != 0 || a.Project != "" || a.ServiceAccount != "") {
		return logical.ErrorResponse("%s", err.Error()), nil
	}
	if err := a.credentials().Validate(); err != nil {
		if misconfig.Is(err) {
			return logical.ErrorResponse("%s", err.Error()), nil
		}
		return nil, err
	}
	return nil, nil
}

func (b *Backend) deleteAccount(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	b.accountsMu.Lock()
	defer b.accountsMu.Unlock()
	a, err := b.getAccount(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if err := req.Storage.Delete(ctx, storageKey(name)); err != nil {
		return nil, err
	}
	if err := req.Storage.Delete(ctx, leaseKey(name)); err != nil {
		return nil, err
	}
	if err := b.dropToken(ctx, req.Storage, name); err != nil {
		return nil, err
	}
	// Keys an unfinished rotation created or replaced stay at DT: say so,
	// as nobody else will.
	var left []string
	if a != nil && a.Staged != nil {
		left = append(left, a.Staged.KeyID)
	}
	if a != nil {
		left = append(left, a.oldKeyIDs()...)
	}
	if len(left) == 0 {
		return nil, nil
	}
	resp := &logical.Response{}
	resp.AddWarning(fmt.Sprintf("an unfinished rotation left key(s) %s at DT: delete them in DT Studio", strings.Join(oneLine(left), ", ")))
	return resp, nil
}
