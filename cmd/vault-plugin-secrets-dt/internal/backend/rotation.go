package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/serviceaccount"
)

// A rotation replaces an account's key as aws-vault rotates an access key
// and Vault's GCP engine its rotate-root: create a new key, prove it
// obtains a token, switch the account to it, then delete the old key. Its
// state lives in storage, so that a node dying at any point (or losing the
// active role to another) leaves an account whose stored key works, and
// the next run, on whichever node is active then, finishes the job:
//
//   - the lease (rotations/<name>) says who is rotating the account until
//     when, and the account's keys before a new one was created; a live
//     lease of another engine instance (another node, or this node before
//     a restart) refuses a second rotation; an expired one is recovered
//     from, reporting any key that may have been created (within the
//     window of its create) but never stored;
//   - the account entry holds the new key, staged, from the moment DT
//     answers until it is proven and switched to, in the same seal-wrapped
//     entry as the secret; and, once switched, the old keys still to delete
//     at DT (the switch and the old key's place in that list are one write).
//
// The old key is deleted only after the new one obtained a token and is
// the account's stored key, and a key a rotation replaced cannot be written
// back while it is being deleted: the stored key is never one deleted.

// keyState is an account's key history and rotation state, stored in its
// entry. None of it is secret but the staged key's secret.
type keyState struct {
	// KeyCreated is when DT created the key, known for a key a rotation
	// created; KeyStored is when it became the account's.
	KeyCreated time.Time `json:"key_created,omitzero"`
	KeyStored  time.Time `json:"key_stored,omitzero"`
	// NextRotation is when the key is due for its periodic rotation (by
	// rotation_period; zero without one).
	NextRotation time.Time `json:"next_rotation,omitzero"`
	// RetryAt holds the periodic function off the account after a failed
	// run, for a back-off growing with Failures, the periodic runs that
	// failed in a row.
	RetryAt  time.Time `json:"retry_at,omitzero"`
	Failures int       `json:"rotation_failures,omitempty"`
	// Staged is a new key created, not yet switched to.
	Staged *stagedKey `json:"staged,omitempty"`
	// OldKeys are keys a rotation replaced and has not yet deleted at DT,
	// each with the service account it was replaced in.
	OldKeys []oldKey `json:"old_keys,omitempty"`
	// Last is the outcome of the last rotation run.
	Last *rotationOutcome `json:"last_rotation,omitempty"`
	// Unstored are keys of the service account that an interrupted
	// rotation may have created (created within its create's window, and
	// not the key it recorded, which it deletes) and that no account
	// holds: to delete at DT unless a machine uses one. Reported until DT
	// no longer lists them.
	Unstored []string `json:"unstored_keys,omitempty"`
}

// stagedKey is a key created by a rotation, stored until it is proven and
// switched to.
type stagedKey struct {
	KeyID   string    `json:"key_id"`
	Secret  string    `json:"secret"`
	Created time.Time `json:"created,omitzero"`
	// Base is accountDigest of the credentials it replaces: if the
	// account was written since, the key is nobody's and is deleted.
	Base string `json:"base"`
	// keyOwner is the service account it was created in, where the key
	// it replaces was listed.
	keyOwner
}

// keyOwner is the service account a key a rotation created, replaced or
// listed is a key of, recorded with it: the key is deleted there, and
// looked for there, whatever project and service_account the account
// names by then, which a writer without the secret may change. Both empty
// in a record written before they were recorded.
type keyOwner struct {
	Project        string `json:"project,omitempty"`
	ServiceAccount string `json:"service_account,omitempty"`
}

func ownerOf(id serviceaccount.ID) keyOwner {
	return keyOwner{Project: id.Project, ServiceAccount: id.ServiceAccount}
}

// or is the service account recorded, else current (the account's now).
func (o keyOwner) or(current serviceaccount.ID) serviceaccount.ID {
	if o == (keyOwner{}) {
		return current
	}
	return serviceaccount.ID{Project: o.Project, ServiceAccount: o.ServiceAccount}
}

// oldKey is a key a rotation replaced, to delete at DT.
type oldKey struct {
	KeyID string `json:"key_id"`
	keyOwner
}

// UnmarshalJSON reads an old key, or a bare key id, as old_keys held
// before they named their service account.
func (k *oldKey) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		*k = oldKey{}
		return json.Unmarshal(b, &k.KeyID)
	}
	type plain oldKey // without this method
	return json.Unmarshal(b, (*plain)(k))
}

// oldKeyIDs are the ids of a's old keys.
func (a *account) oldKeyIDs() []string {
	ids := make([]string, len(a.OldKeys))
	for i, k := range a.OldKeys {
		ids[i] = k.KeyID
	}
	return ids
}

// String shows the key, never its secret.
func (k stagedKey) String() string { return "staged key " + k.KeyID + " created " + rfc3339(k.Created) }

// GoString is String, for %#v.
func (k stagedKey) GoString() string { return k.String() }

// rotationOutcome is what a rotation run did, as the account read shows it:
// never a secret, and no word of what DT's API answered (the server log has
// that).
type rotationOutcome struct {
	Time     time.Time `json:"time"`
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"`
	Trigger  string    `json:"trigger"`
	OldKeyID string    `json:"old_key_id,omitempty"`
	NewKeyID string    `json:"new_key_id,omitempty"`
}

// What started a rotation run.
const (
	triggerRequest  = "request"
	triggerPeriodic = "periodic"
)

// leasePrefix is the storage prefix of the rotation leases. A lease holds
// no secret.
const leasePrefix = "rotations/"

func leaseKey(name string) string { return leasePrefix + name }

// rotationLease records a rotation in progress.
type rotationLease struct {
	// Node is the engine instance rotating (Backend.node): a host name
	// and a random id, new at each start of the engine.
	Node    string    `json:"node"`
	Started time.Time `json:"started"`
	// Expires is when the lease may be taken over: longer than a rotation
	// may take (rotationTimeout).
	Expires time.Time `json:"expires"`
	// KeysBefore are the service account's keys before a key was created
	// (nil until they were listed), and NewKeyID the key created (once DT
	// answered): what a recovery compares DT's keys with.
	KeysBefore []string `json:"keys_before,omitempty"`
	NewKeyID   string   `json:"new_key_id,omitempty"`
	// CreateWindow is when the create may have made a key, recorded with
	// KeysBefore: a key created outside it is another's (a machine that
	// made its own on the service account), not the interrupted run's.
	CreateWindow serviceaccount.CreateWindow `json:"create_window,omitzero"`
	// keyOwner is the service account KeysBefore are of, where NewKeyID
	// was created.
	keyOwner
}

const (
	// rotationTimeout bounds one rotation run, within the request's own
	// deadline.
	rotationTimeout = 60 * time.Second
	// leaseFor is how long a lease holds: a node that died mid-rotation
	// holds its accounts' rotations off this long.
	leaseFor = 3 * rotationTimeout
	// retryFirst and retryMax bound the back-off of the periodic runs
	// after a failure.
	retryFirst = time.Minute
	retryMax   = time.Hour
)

func (b *Backend) getLease(ctx context.Context, s logical.Storage, name string) (*rotationLease, error) {
	return getEntry[rotationLease](ctx, s, leaseKey(name), name, "rotation lease")
}

func putLease(ctx context.Context, s logical.Storage, name string, l *rotationLease) error {
	return putEntry(ctx, s, leaseKey(name), l)
}

// jittered is d less up to a tenth of it, at random: accounts written or
// rotated together do not all rotate at once.
func jittered(d time.Duration) time.Duration {
	return d - rand.N(d/10+1)
}

// retryAfter is the back-off after failures periodic runs in a row:
// retryFirst doubling to retryMax, jittered.
func retryAfter(failures int) time.Duration {
	d := retryFirst
	for i := 1; i < failures && d < retryMax; i++ {
		d *= 2
	}
	return jittered(min(d, retryMax))
}

// schedule updates a's key state after a write that changed it from old:
// a new key was stored now, and the periodic rotation counts from when the
// key was stored.
func (a *account) schedule(old *account, now time.Time) {
	newKey := a.KeyID != old.KeyID || a.Secret != old.Secret
	if newKey {
		a.KeyStored, a.KeyCreated = now, time.Time{}
	}
	if newKey || a.RotationPeriod != old.RotationPeriod {
		a.NextRotation = a.nextRotation(now)
	}
}

// nextRotation is when a, whose key was stored at KeyStored (now if not
// known), is due for its periodic rotation; zero without a period.
func (a *account) nextRotation(now time.Time) time.Time {
	if a.RotationPeriod == 0 {
		return time.Time{}
	}
	from := a.KeyStored
	if from.IsZero() {
		from = now
	}
	return from.Add(jittered(a.RotationPeriod))
}

// unfinished reports whether a rotation left work on a: a staged key to
// prove or an old key to delete.
func (a *account) unfinished() bool { return a.Staged != nil || len(a.OldKeys) > 0 }

// describeRotation adds to data, an account read's, the key's age and the
// rotation state, never a secret.
func (a *account) describeRotation(data map[string]any, lease *rotationLease, now time.Time) {
	data["key_created"] = rfc3339(a.KeyCreated)
	data["key_stored"] = rfc3339(a.KeyStored)
	data["key_age"] = int64(0)
	if since := a.KeyCreated; !since.IsZero() || !a.KeyStored.IsZero() {
		if since.IsZero() {
			since = a.KeyStored
		}
		data["key_age"] = int64(max(now.Sub(since), 0) / time.Second)
	}
	data["next_rotation"] = ""
	if a.RotationPeriod != 0 {
		data["next_rotation"] = rfc3339(later(a.NextRotation, a.RetryAt))
	}
	data["last_rotation"], data["last_rotation_result"], data["last_rotation_error"] = "", "", ""
	if l := a.Last; l != nil {
		data["last_rotation"] = rfc3339(l.Time)
		data["last_rotation_result"] = map[bool]string{true: "ok", false: "failed"}[l.OK]
		data["last_rotation_error"] = l.Error
	}
	data["unstored_keys"] = oneLine(a.Unstored)
	var unfinished []string
	if lease != nil && now.Before(lease.Expires) {
		unfinished = append(unfinished, fmt.Sprintf("in progress on %s since %s", lease.Node, rfc3339(lease.Started)))
	} else if lease != nil {
		unfinished = append(unfinished, "interrupted on "+lease.Node+" at "+rfc3339(lease.Started)+"; the next run recovers")
	}
	if a.Staged != nil {
		unfinished = append(unfinished, "new key "+auth.OneLine(a.Staged.KeyID)+" created, not yet switched to")
	}
	for _, k := range oneLine(a.oldKeyIDs()) {
		unfinished = append(unfinished, "old key "+k+" not yet deleted at DT")
	}
	if len(unfinished) > 0 && !a.RetryAt.IsZero() {
		unfinished = append(unfinished, "the periodic function tries again after "+rfc3339(a.RetryAt))
	}
	data["unfinished_rotation"] = strings.Join(unfinished, "; ")
}

// oneLine is ids, which DT's answers gave, each on one line with no
// control character (auth.OneLine), for a reader or the log; the key API
// client checks them already (serviceaccount.CheckID), and this costs
// nothing where they are shown.
func oneLine(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = auth.OneLine(id)
	}
	return out
}

// later is the later of two times.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// rfc3339 is t in RFC 3339, UTC; "" for the zero time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
