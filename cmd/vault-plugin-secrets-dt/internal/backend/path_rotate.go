package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/serviceaccount"
)

func (b *Backend) pathRotate() *framework.Path {
	return &framework.Path{
		Pattern: "accounts/" + framework.GenericNameRegex("name") + "/rotate$",
		Fields:  accountNameField(),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{Callback: b.rotateAccount},
		},
		HelpSynopsis:    "Replace a DT service account's key with a new one nobody has seen.",
		HelpDescription: strings.TrimSpace(rotateHelp),
	}
}

const rotateHelp = `
This path replaces the account's key, as Vault's GCP engine's rotate-root
does: with a token of the current key the engine creates a new key through
DT's API (the account's api_url; the service account its project and
service_account name, by default the email's), proves the new key obtains a
token, stores it seal-wrapped in place of the old one, makes that token the
account's, and deletes the old key at DT. Its secret is never shown: after
the first rotation nobody has seen the account's live secret.

    $ vault write -f dt/accounts/prod/rotate

The answer names the new and the old key; a read of accounts/<name> shows
the key's age and the last rotation's outcome. Readers of token/<name>
notice nothing: they get the cached token throughout, then one of the new
key. Machines that use the old key themselves can obtain no more tokens once
it is deleted (those they hold last until they expire, within the hour).

The service account needs the right to manage its keys (DT's Project
Administrator role in its project); without it DT answers 403 and nothing
changes. A node that dies mid-rotation leaves the account with a key that
works: the next rotation, or the periodic function within minutes, finishes
the job or reports, by its id, a key that may have been created but never
stored. Only one rotation of an account runs at a time, across a cluster
too: a second one is refused with a 409.
`

func (b *Backend) rotateAccount(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if b.standby() {
		return nil, fmt.Errorf("account %s: rotations run on the active node: %w", name, errForward)
	}
	r, err := b.rotate(ctx, req.Storage, name, triggerRequest, true)
	if err != nil {
		return nil, rotationCoded(name, err)
	}
	a, err := r.account(ctx)
	if err != nil {
		return nil, err
	}
	resp := &logical.Response{Data: map[string]any{
		"key_id":          a.KeyID,
		"key_created":     rfc3339(a.KeyCreated),
		"old_key_id":      r.out.OldKeyID,
		"old_key_deleted": r.out.OldKeyID != a.KeyID && !slices.Contains(a.oldKeyIDs(), r.out.OldKeyID),
	}}
	if len(a.OldKeys) > 0 {
		resp.AddWarning("old key(s) " + strings.Join(oneLine(a.oldKeyIDs()), ", ") + " not yet deleted at DT: the periodic function tries again")
	}
	if len(a.Unstored) > 0 {
		resp.AddWarning("key(s) " + strings.Join(oneLine(a.Unstored), ", ") + " of the service account may have been created by an interrupted rotation and are held by no account: if no machine of yours uses them, delete them in DT Studio")
	}
	return resp, nil
}

// rotationCoded is the error a rotate request answers err with: the
// reader's message (rotationMessage) and the status of what went wrong.
func rotationCoded(name string, err error) error {
	msg := "account " + name + ": rotation failed: " + rotationMessage(err) + "; the account keeps the key it has stored"
	var coded logical.HTTPCodedError
	var se *serviceaccount.Error
	switch {
	case errors.Is(err, errBusy):
		return logical.CodedError(http.StatusConflict, err.Error())
	case errors.Is(err, errChanged):
		return logical.CodedError(http.StatusConflict, msg)
	case errors.Is(err, errGone):
		return logical.CodedError(http.StatusNotFound, "account "+name+" does not exist")
	case errors.As(err, &coded):
		return logical.CodedError(coded.Code(), msg)
	case auth.IsRejected(err):
		return logical.CodedError(http.StatusBadRequest, msg)
	case auth.IsTransient(err):
		return logical.CodedError(http.StatusServiceUnavailable, msg)
	case errors.As(err, &se) && se.Temporary():
		return logical.CodedError(http.StatusServiceUnavailable, msg)
	case errors.As(err, &se) && se.Refused(), misconfig.Is(err):
		return logical.CodedError(http.StatusBadRequest, msg)
	case errors.As(err, &se), isAuthError(err):
		return logical.CodedError(http.StatusBadGateway, msg)
	}
	return logical.CodedError(http.StatusInternalServerError, msg)
}

func isAuthError(err error) bool {
	var e *auth.Error
	return errors.As(err, &e)
}

// rotationMessage describes a failed rotation to a Vault user (a rotate
// request's answer, an account read): the step, and what DT's API or
// token endpoint answered by its HTTP status only, never a word of it, by
// the rule of readerMessage; the server log has the full error.
func rotationMessage(err error) string {
	var prefix string
	var se *stepError
	if errors.As(err, &se) {
		prefix = se.step + ": "
	}
	var coded logical.HTTPCodedError
	var apiErr *serviceaccount.Error
	var authErr *auth.Error
	var ce *auth.ConfigError
	switch {
	case errors.As(err, &apiErr):
		return prefix + apiErr.Op + ": " + keyAPIProblem(apiErr)
	case errors.As(err, &coded):
		return prefix + "getting a token of the account: " + coded.Error()
	case errors.As(err, &authErr):
		return prefix + readerMessage(authErr)
	case errors.As(err, &ce):
		return prefix + ce.Msg
	case errors.Is(err, errChanged):
		return prefix + errChanged.Error()
	case errors.Is(err, errGone):
		return prefix + errGone.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return prefix + "no answer in time"
	}
	return prefix + "failed (the Vault server's log has the details)"
}

// keyAPIProblem is what an answer of DT's key API means, by its status.
func keyAPIProblem(e *serviceaccount.Error) string {
	switch {
	case errors.Is(e, serviceaccount.ErrNoRight):
		return "HTTP 403: the service account lacks the right to manage its keys (DT's Project Administrator role in its project)"
	case errors.Is(e, serviceaccount.ErrNotFound):
		return "HTTP 404: no such service account or key (check project and service_account)"
	case e.Status == http.StatusOK:
		return "the answer is not usable"
	case e.Status != 0:
		return fmt.Sprintf("HTTP %d", e.Status)
	case e.Err != nil:
		return transportProblem(e.Err)
	}
	return "the request failed"
}
