package backend

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
)

// account is a stored service account. The secret is stored with it (the
// entry is seal-wrapped) and never returned by a read.
type account struct {
	KeyID         string `json:"key_id"`
	Email         string `json:"email"`
	Secret        string `json:"secret"`
	TokenEndpoint string `json:"token_endpoint"`
}

func (a *account) credentials() auth.Credentials {
	return auth.Credentials{KeyID: a.KeyID, Email: a.Email, Secret: a.Secret, TokenEndpoint: a.TokenEndpoint}
}

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
	}
}

func (b *Backend) pathAccountsList() *framework.Path {
	return &framework.Path{
		Pattern: "accounts/?$",
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ListOperation: &framework.PathOperation{Callback: b.listAccounts},
		},
		HelpSynopsis:    "List the names of the configured DT service accounts.",
		HelpDescription: "List the names of the DT service accounts written to accounts/<name>. Read an account for its key id, email and token endpoint; its secret is never returned.",
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
the seal supports it), a read returns only the key id, email and token
endpoint, and audit logs show it HMAC'd. The token endpoint defaults to DT's;
it must be https (or http on a loopback host, for an emulator), as the
dt-credential-helper command line requires.

Updating an account keeps the fields not given, the secret included (but a
new key_id or token_endpoint needs the secret written again), and
drops its cached token; so does deleting it.
`

func storageKey(name string) string { return accountPrefix + name }

func (b *Backend) getAccount(ctx context.Context, s logical.Storage, name string) (*account, error) {
	e, err := s.Get(ctx, storageKey(name))
	if err != nil || e == nil {
		return nil, err
	}
	var a account
	if err := e.DecodeJSON(&a); err != nil {
		// The decoder's message could quote the entry, secret and all.
		return nil, fmt.Errorf("account %s: the stored entry is not valid", name)
	}
	return &a, nil
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
	a, err := b.getAccount(ctx, req.Storage, d.Get("name").(string))
	if err != nil || a == nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{
		"key_id":         a.KeyID,
		"email":          a.Email,
		"token_endpoint": a.TokenEndpoint,
	}}, nil
}

func (b *Backend) writeAccount(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	a, err := b.getAccount(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if a == nil {
		a = &account{TokenEndpoint: auth.DefaultTokenEndpoint}
	}
	old := *a
	for field, dst := range map[string]*string{"key_id": &a.KeyID, "email": &a.Email, "token_endpoint": &a.TokenEndpoint} {
		if v, ok := d.GetOk(field); ok {
			*dst = strings.TrimSpace(v.(string))
		}
	}
	// The CLI's rule: the line end a file leaves (secret=- < file) is not
	// part of the secret; any other whitespace is a mistake to refuse now
	// rather than meet at every token read as invalid_grant.
	_, newSecret := d.GetOk("secret")
	if newSecret {
		a.Secret, err = auth.CleanSecret(d.Get("secret").(string))
		if err != nil && !errors.Is(err, auth.ErrNoSecret) {
			return logical.ErrorResponse("%s", err.Error()), nil
		}
	}
	// The stored secret stays with the key and the endpoint it was written
	// for: whoever may update an account but does not know its secret must
	// not have assertions signed with it sent to an endpoint of their
	// choosing.
	if old.Secret != "" && !newSecret && (a.KeyID != old.KeyID || a.TokenEndpoint != old.TokenEndpoint) {
		return logical.ErrorResponse("changing key_id or token_endpoint needs the secret again: write secret too"), nil
	}
	if refusal, err := b.checkAccount(ctx, req.Storage, a); refusal != nil || err != nil {
		return refusal, err
	}
	e, err := logical.StorageEntryJSON(storageKey(name), a)
	if err != nil {
		return nil, err
	}
	if err := req.Storage.Put(ctx, e); err != nil {
		return nil, err
	}
	return nil, b.dropToken(ctx, req.Storage, name)
}

// dropToken forgets the token of account name, in memory and in storage,
// after the account changed.
func (b *Backend) dropToken(ctx context.Context, s logical.Storage, name string) error {
	b.forget(name)
	return s.Delete(ctx, tokenKey(name))
}

// checkAccount returns the refusal of an account that is incomplete or whose
// token endpoint the command line's rule or dt/config does not allow.
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
	cfg, err := b.config(ctx, s)
	if err != nil {
		return nil, err
	}
	if err := cfg.allows(a.TokenEndpoint); err != nil {
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
	if err := req.Storage.Delete(ctx, storageKey(name)); err != nil {
		return nil, err
	}
	return nil, b.dropToken(ctx, req.Storage, name)
}
