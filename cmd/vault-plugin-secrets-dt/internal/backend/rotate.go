package backend

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/serviceaccount"
)

// The steps of a rotation, as Options.interrupt names them: after the
// lease is taken, after the keys are listed (the lease records them),
// after DT created the new key, after it is staged in the account, after
// it obtained a token, after the account switched to it, after an old key
// was deleted at DT.
const (
	stepLeased   = "leased"
	stepListed   = "listed"
	stepCreated  = "created"
	stepStaged   = "staged"
	stepProven   = "proven"
	stepSwitched = "switched"
	stepDeleted  = "deleted"
)

var (
	// errBusy: another rotation of the account is in progress.
	errBusy = errors.New("a rotation of the account is in progress")
	// errChanged: the account was written while a rotation ran, which
	// then leaves it as written.
	errChanged = errors.New("the account was written during the rotation, which left it as written")
	// errGone: the account was deleted.
	errGone = errors.New("the account does not exist")
	// errCrashed: Options.interrupt stopped the rotation.
	errCrashed = errors.New("rotation interrupted")
)

// stepError is a rotation step that failed: what it was doing, and why.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// instanceName names this instance of the engine in rotation leases: the
// host it runs on, for people, and a random id, since every start of the
// engine is another instance with nothing in memory.
func instanceName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return host + "/" + hex.EncodeToString(b)
}

// rotation is one run of an account's rotation on the active node.
type rotation struct {
	b    *Backend
	s    logical.Storage
	name string
	id   serviceaccount.ID
	api  *serviceaccount.Client
	// lease is this run's, as stored; keepLease leaves it in storage,
	// expired, at the end, for the next run to recover from.
	lease     *rotationLease
	keepLease bool
	out       rotationOutcome
	deleted   []string
	// acted says the run changed something: a run that found nothing to
	// do records no outcome.
	acted bool
}

// rotate runs a rotation of account name on this node, the active one: it
// recovers from an interrupted one, finishes what it left (a staged key to
// prove and switch to, old keys to delete) and, when fresh, replaces the
// key (unless finishing already switched to a new one). It records the
// outcome in the account and returns it.
func (b *Backend) rotate(ctx context.Context, s logical.Storage, name, trigger string, fresh bool) (*rotation, error) {
	if !b.startRotating(name) {
		return nil, fmt.Errorf("account %s: %w on this node", name, errBusy)
	}
	defer b.stopRotating(name)
	ctx, cancel := context.WithTimeout(ctx, rotationTimeout)
	defer cancel()
	r := &rotation{b: b, s: s, name: name, out: rotationOutcome{Trigger: trigger}}
	prior, err := r.takeLease(ctx)
	if err != nil {
		return nil, err
	}
	err = r.hook(stepLeased)
	if err == nil {
		err = r.prepare(ctx)
	}
	if err == nil {
		err = r.run(ctx, prior, fresh)
	}
	if errors.Is(err, errCrashed) {
		return nil, err // as a dead node: nothing recorded, nothing undone
	}
	r.finish(ctx, err)
	return r, err
}

func (b *Backend) startRotating(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rotating[name] {
		return false
	}
	b.rotating[name] = true
	return true
}

func (b *Backend) stopRotating(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.rotating, name)
}

// takeLease stores this run's lease, refusing while another instance's
// holds. It returns the lease it replaces, expired or this instance's own
// (left by a run that could not remove it), to recover from; what that one
// recorded is carried over until the recovery is done.
func (r *rotation) takeLease(ctx context.Context) (*rotationLease, error) {
	prior, err := r.b.getLease(ctx, r.s, r.name)
	if err != nil {
		return nil, err
	}
	now := r.b.now()
	if prior != nil && prior.Node != r.b.node && now.Before(prior.Expires) {
		return nil, fmt.Errorf("account %s: %w on %s since %s (its lease ends at %s)", r.name, errBusy, prior.Node, rfc3339(prior.Started), rfc3339(prior.Expires))
	}
	r.lease = &rotationLease{Node: r.b.node, Started: now, Expires: now.Add(leaseFor)}
	if prior != nil && prior.KeysBefore != nil {
		r.lease.KeysBefore, r.lease.NewKeyID, r.lease.CreateWindow, r.lease.keyOwner = prior.KeysBefore, prior.NewKeyID, prior.CreateWindow, prior.keyOwner
		r.keepLease = true
	}
	if err := putLease(ctx, r.s, r.name, r.lease); err != nil {
		return nil, fmt.Errorf("account %s: storing the rotation lease: %w", r.name, err)
	}
	return prior, nil
}

// prepare checks the account may be rotated where it says (dt/config, as
// at its write) and makes the client of DT's key API, whose requests carry
// a token of the account's key as stored at each request.
func (r *rotation) prepare(ctx context.Context) error {
	a, err := r.account(ctx)
	if err != nil {
		return err
	}
	cfg, err := r.b.config(ctx, r.s)
	if err != nil {
		return err
	}
	if err := cmp.Or(cfg.allows(a.TokenEndpoint), cfg.allowsAPI(a.apiURL())); err != nil {
		return &auth.ConfigError{Msg: err.Error(), Err: err}
	}
	if r.id, err = a.keyAPIID(); err != nil {
		return err
	}
	r.api, err = serviceaccount.NewClient(a.apiURL(), accountTokens{r}, r.b.opts.KeyAPIOptions...)
	return err
}

// run recovers, finishes and replaces, as rotate says.
func (r *rotation) run(ctx context.Context, prior *rotationLease, fresh bool) error {
	if prior != nil && prior.KeysBefore != nil {
		if err := r.recover(ctx, prior); err != nil {
			return err
		}
	}
	switched, err := r.finishStaged(ctx)
	if err != nil {
		return err
	}
	if err := r.deleteOld(ctx); err != nil {
		return err
	}
	if !fresh || switched {
		return nil
	}
	return r.replace(ctx)
}

// replace creates a new key, stages it, proves and switches to it, and
// deletes the old one.
func (r *rotation) replace(ctx context.Context) error {
	listed, a, err := r.listKeys(ctx, r.id)
	if err != nil {
		return err
	}
	keys := serviceaccount.KeyIDs(listed)
	if !slices.Contains(keys, a.KeyID) {
		return &stepError{"checking the account's key", &auth.ConfigError{Msg: fmt.Sprintf(
			"key %s is not among the keys of %s: check project and service_account", a.KeyID, r.id)}}
	}
	base := accountDigest(a.credentials())
	// The create below runs within this run's time, rotationTimeout at
	// most from now: the window its key falls in, should its answer be
	// lost.
	r.lease.KeysBefore, r.lease.NewKeyID, r.lease.keyOwner = keys, "", ownerOf(r.id)
	r.lease.CreateWindow = serviceaccount.CreateWindowOf(r.b.now(), rotationTimeout)
	if err := putLease(ctx, r.s, r.name, r.lease); err != nil {
		return &stepError{"recording the rotation", err}
	}
	r.keepLease = true
	if err := r.hook(stepListed); err != nil {
		return err
	}
	nk, err := r.api.CreateKey(ctx, r.id)
	if err != nil {
		// Unless DT refused it, it may have created the key: the lease
		// stays for the next run to find it.
		r.keepLease = serviceaccount.MayHaveCreated(err)
		return &stepError{"creating a key", err}
	}
	if err := r.hook(stepCreated); err != nil {
		return err
	}
	r.out.NewKeyID = nk.ID
	r.lease.NewKeyID = nk.ID
	_ = putLease(ctx, r.s, r.name, r.lease) // helps a recovery; the staging below is what counts
	if err := r.stage(ctx, nk, base); err != nil {
		return err
	}
	r.keepLease = false
	if err := r.hook(stepStaged); err != nil {
		return err
	}
	switched, err := r.finishStaged(ctx)
	if err == nil && !switched {
		err = &stepError{"switching to the new key", errChanged}
	}
	if err != nil {
		return err
	}
	return r.deleteOld(ctx)
}

// listKeys lists the keys of service account id, forgets the reported
// unstored keys DT no longer lists, and returns the keys and the account
// as stored after that.
func (r *rotation) listKeys(ctx context.Context, id serviceaccount.ID) ([]serviceaccount.Key, *account, error) {
	listed, err := r.api.ListKeys(ctx, id)
	if err != nil {
		return nil, nil, &stepError{"listing the keys of " + id.String(), err}
	}
	keys := serviceaccount.KeyIDs(listed)
	gone := func(k string) bool { return !slices.Contains(keys, k) }
	a, err := r.account(ctx)
	if err != nil {
		return nil, nil, err
	}
	if !slices.ContainsFunc(a.Unstored, gone) {
		return listed, a, nil
	}
	err = r.update(ctx, func(stored *account) error {
		stored.Unstored = slices.DeleteFunc(stored.Unstored, gone)
		a = stored
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return listed, a, nil
}

// stage stores the new key nk in the account (seal-wrapped, with the
// secret), unless the account changed since base; otherwise the key is
// deleted at DT, as nobody will ever have its secret.
func (r *rotation) stage(ctx context.Context, nk serviceaccount.NewKey, base string) error {
	err := r.update(ctx, func(a *account) error {
		if accountDigest(a.credentials()) != base {
			return errChanged
		}
		a.Staged = &stagedKey{KeyID: nk.ID, Secret: nk.Secret, Created: nk.CreateTime, Base: base, keyOwner: ownerOf(r.id)}
		return nil
	})
	if err == nil {
		return nil
	}
	if derr := r.deleteKey(ctx, r.id, nk.ID); derr == nil {
		r.keepLease = false
	}
	return &stepError{"storing the new key " + nk.ID, err}
}

// recover finds the keys a rotation interrupted after it listed the
// service account's keys may have created and never stored: the one it
// recorded is deleted (nobody ever had its secret), any other created
// within the window of its create reported, since a machine that made a
// key of its own may use it; one created outside the window is not the
// rotation's and is left alone. It looks in the service account the
// interrupted run listed.
func (r *rotation) recover(ctx context.Context, prior *rotationLease) error {
	id := prior.or(r.id)
	keys, a, err := r.listKeys(ctx, id)
	if err != nil {
		return err
	}
	known := slices.Concat(prior.KeysBefore, a.oldKeyIDs(), a.Unstored, []string{a.KeyID})
	if a.Staged != nil {
		known = append(known, a.Staged.KeyID)
	}
	var unstored []string
	for _, k := range keys {
		switch {
		case slices.Contains(known, k.ID):
		case k.ID == prior.NewKeyID && r.deleteKey(ctx, id, k.ID) == nil:
			r.acted = true
			r.b.Logger().Warn("deleted a key an interrupted rotation created and never stored", "account", r.name, "key_id", k.ID)
		case prior.CreateWindow.Holds(k):
			unstored = append(unstored, k.ID)
		}
	}
	if len(unstored) > 0 {
		r.acted = true
		r.b.Logger().Warn("keys an interrupted rotation may have created are held by no account: "+
			"if no machine of yours uses them, delete them in DT Studio", "account", r.name, "key_ids", oneLine(unstored))
		if err := r.update(ctx, func(a *account) error { a.Unstored = append(a.Unstored, unstored...); return nil }); err != nil {
			return &stepError{"recording the unstored keys", err}
		}
	}
	r.keepLease = false
	return nil
}

// finishStaged proves the account's staged key and switches to it,
// storing the token it obtained as the account's; a staged key whose
// account was written since is deleted instead. It reports whether it
// switched.
func (r *rotation) finishStaged(ctx context.Context) (bool, error) {
	a, err := r.account(ctx)
	if err != nil || a.Staged == nil {
		return false, err
	}
	st := *a.Staged
	r.out.NewKeyID = st.KeyID
	if accountDigest(a.credentials()) != st.Base {
		r.b.Logger().Warn("the account was written after the rotation created its new key: deleting the key", "account", r.name, "key_id", st.KeyID)
		return false, r.discard(ctx, st)
	}
	creds := a.credentials()
	creds.KeyID, creds.Secret = st.KeyID, st.Secret
	tok, err := r.prove(ctx, creds)
	if err != nil {
		if auth.IsRejected(err) {
			_ = r.discard(ctx, st) // DT does not take it: it is no use
		}
		return false, &stepError{"proving the new key " + st.KeyID, err}
	}
	if err := r.hook(stepProven); err != nil {
		return false, err
	}
	if err := r.switchTo(ctx, st, creds, tok); err != nil {
		return false, err
	}
	return true, r.hook(stepSwitched)
}

// prove exchanges the new key for a token, for at most Options.ProveFor
// when set; Prove bounds itself by serviceaccount.ProveFor.
func (r *rotation) prove(ctx context.Context, creds auth.Credentials) (*oauth2.Token, error) {
	if d := r.b.opts.ProveFor; d != 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	return serviceaccount.Prove(ctx, creds, r.b.opts.SourceOptions...)
}

// switchTo makes the staged key st the account's, in one write with the
// old key's place in the keys to delete (under the service account st
// was created in, where the rotation found the old key), and tok, which
// the new key obtained, the account's token on every node.
func (r *rotation) switchTo(ctx context.Context, st stagedKey, creds auth.Credentials, tok *oauth2.Token) error {
	err := r.update(ctx, func(a *account) error {
		if a.Staged == nil || a.Staged.KeyID != st.KeyID || accountDigest(a.credentials()) != st.Base {
			return errChanged
		}
		r.out.OldKeyID = a.KeyID
		a.OldKeys = append(a.OldKeys, oldKey{KeyID: a.KeyID, keyOwner: st.keyOwner})
		a.KeyID, a.Secret, a.Staged = st.KeyID, st.Secret, nil
		a.KeyCreated, a.KeyStored = st.Created, r.b.now()
		a.NextRotation = a.nextRotation(r.b.now())
		return nil
	})
	if errors.Is(err, errChanged) {
		_ = r.discard(ctx, st)
	}
	if err != nil {
		return &stepError{"switching to the new key " + st.KeyID, err}
	}
	r.acted = true
	r.b.cache(r.name, creds).set(tok)
	r.b.share(ctx, r.s, r.name, creds, tok)
	return nil
}

// deleteOld deletes at DT the keys the account was switched from, each
// under the service account it was replaced in, never the account's own
// key.
func (r *rotation) deleteOld(ctx context.Context) error {
	a, err := r.account(ctx)
	if err != nil {
		return err
	}
	for _, k := range a.OldKeys {
		if k.KeyID != a.KeyID {
			if err := r.deleteKey(ctx, k.or(r.id), k.KeyID); err != nil {
				return &stepError{"deleting the old key " + k.KeyID, err}
			}
			if err := r.hook(stepDeleted); err != nil {
				return err
			}
			r.deleted = append(r.deleted, k.KeyID)
			r.out.OldKeyID = cmp.Or(r.out.OldKeyID, k.KeyID)
			r.acted = true
		}
		err := r.update(ctx, func(a *account) error {
			a.OldKeys = slices.DeleteFunc(a.OldKeys, func(o oldKey) bool { return o.KeyID == k.KeyID })
			return nil
		})
		if err != nil {
			return &stepError{"recording the deletion of the old key " + k.KeyID, err}
		}
	}
	return nil
}

// discard deletes the staged key st at DT (under the service account it
// was created in) and from the account; a key DT cannot delete now stays
// staged, for the next run.
func (r *rotation) discard(ctx context.Context, st stagedKey) error {
	keyID := st.KeyID
	if err := r.deleteKey(ctx, st.or(r.id), keyID); err != nil {
		r.b.Logger().Warn("deleting a new key the account will not use failed; the next run tries again", "account", r.name, "key_id", keyID, "error", err.Error())
		return &stepError{"deleting the new key " + keyID + " the account will not use", err}
	}
	return r.update(ctx, func(a *account) error {
		if a.Staged != nil && a.Staged.KeyID == keyID {
			a.Staged = nil
		}
		return nil
	})
}

// deleteKey deletes keyID, a key of service account id, at DT. DT's "not
// found" counts as deleted only once a listing of id's keys confirms the
// key is not there (serviceaccount's DeleteKeyGone, which rotate uses too):
// a key id asked for under another service account is not found either.
func (r *rotation) deleteKey(ctx context.Context, id serviceaccount.ID, keyID string) error {
	return r.api.DeleteKeyGone(ctx, id, keyID)
}

// account reads the account as stored now.
func (r *rotation) account(ctx context.Context) (*account, error) {
	a, err := r.b.getAccount(ctx, r.s, r.name)
	if err == nil && a == nil {
		err = errGone
	}
	return a, err
}

// update changes the account's entry by change, under accountsMu, as
// writes do; change sees the entry as stored now.
func (r *rotation) update(ctx context.Context, change func(*account) error) error {
	r.b.accountsMu.Lock()
	defer r.b.accountsMu.Unlock()
	a, err := r.account(ctx)
	if err != nil {
		return err
	}
	if err := change(a); err != nil {
		return err
	}
	return putAccount(ctx, r.s, r.name, a)
}

// hook is Options.interrupt at step.
func (r *rotation) hook(step string) error {
	if f := r.b.opts.interrupt; f != nil && f(step) {
		return errCrashed
	}
	return nil
}

// finish records the run's outcome in the account, logs it, and releases
// the lease (or leaves it expired, for the next run to recover from). Its
// writes get time of their own: the run may have used all of its.
func (r *rotation) finish(ctx context.Context, runErr error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := r.b.now()
	r.out.Time, r.out.OK = now, runErr == nil
	if runErr != nil {
		r.out.Error = rotationMessage(runErr)
	}
	var kept string
	var retryAt time.Time
	err := r.update(ctx, func(a *account) error {
		kept = a.KeyID
		if runErr != nil || r.acted {
			a.Last = &r.out
		}
		if runErr == nil {
			a.Failures, a.RetryAt = 0, time.Time{}
		} else if r.out.Trigger == triggerPeriodic {
			a.Failures++
			a.RetryAt = now.Add(retryAfter(a.Failures))
			retryAt = a.RetryAt
		}
		return nil
	})
	if err != nil && !errors.Is(err, errGone) {
		r.b.Logger().Warn("recording the rotation's outcome failed", "account", r.name, "error", err.Error())
	}
	r.releaseLease(ctx, now)
	if runErr == nil && r.acted {
		r.b.Logger().Info("rotation done", "account", r.name, "trigger", r.out.Trigger, "key_id", kept,
			"old_key_id", r.out.OldKeyID, "deleted_key_ids", r.deleted)
	}
	if runErr == nil {
		return
	}
	args := []any{"account", r.name, "trigger", r.out.Trigger, "key_id", kept, "error", runErr.Error()}
	if !retryAt.IsZero() {
		args = append(args, "next_attempt_after", rfc3339(retryAt))
	}
	r.b.Logger().Warn("rotation failed; the account keeps the key it has stored", args...)
}

// releaseLease removes the run's lease, or leaves it expired when the next
// run must recover from it.
func (r *rotation) releaseLease(ctx context.Context, now time.Time) {
	var err error
	if r.keepLease {
		r.lease.Expires = now
		err = putLease(ctx, r.s, r.name, r.lease)
	} else {
		err = r.s.Delete(ctx, leaseKey(r.name))
	}
	if err != nil {
		r.b.Logger().Warn("releasing the rotation lease failed; it expires on its own", "account", r.name, "error", err.Error())
	}
}

// accountTokens is the token source of a rotation's requests to DT's API:
// the engine's token of the account's key as stored at each request (the
// old key's before the switch, the new key's after), from its cache.
type accountTokens struct{ r *rotation }

func (t accountTokens) Token() (*oauth2.Token, error) { return t.TokenContext(context.Background()) }

func (t accountTokens) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	a, err := t.r.account(ctx)
	if err != nil {
		return nil, err
	}
	if t.r.out.Trigger == triggerRequest {
		// The operator asked now: the readers' back-off does not hold them
		// off (a periodic run waits for it, as readers do).
		t.r.b.cache(t.r.name, a.credentials()).lift(t.r.b.now())
	}
	return t.r.b.token(ctx, t.r.s, t.r.name, a.credentials())
}
