package profile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
	"github.com/dt-credential-helper/dt-credential-helper/serviceaccount"
)

// Rotation is a replacement of a DT profile's key under way (rotate). It is
// recorded in the profile before each step that cannot be taken back, so
// that whatever a crash interrupts, the profile names a secret that works
// and a rerun knows what is left to do. Its stages:
//
//   - begun (no key yet): KeysBefore are the service account's keys; a key
//     not among them whose secret is in [KeySecretKey]'s entry is this
//     rotation's; one whose secret is not, created within CreateWindow,
//     may have been created by it and never stored: the rerun reports it
//     (one created outside it is another's, a machine's that made its own);
//   - staged (NewKeyID): the new key's secret is in its own entry of the
//     profile's store; the profile still uses its old key;
//   - switched (OldKeyID): the profile uses the new key; the old key is
//     still to be deleted at DT, and its secret, in OldEntry, here.
type Rotation struct {
	// KeysBefore are the service account's key ids when it began.
	KeysBefore []string `json:"keys_before"`
	// CreateWindow is when its create may have made a key.
	CreateWindow serviceaccount.CreateWindow `json:"create_window,omitzero"`
	// NewKeyID is the key created and staged, and NewKeyCreated when DT
	// created it.
	NewKeyID      string    `json:"new_key_id,omitempty"`
	NewKeyCreated time.Time `json:"new_key_created,omitzero"`
	// OldKeyID is the key replaced, once the profile switched, and
	// OldEntry the entry of the profile's store that holds its secret.
	OldKeyID string `json:"old_key_id,omitempty"`
	OldEntry string `json:"old_entry,omitempty"`
	// Project and ServiceAccount are the service account it began in,
	// whose keys KeysBefore are: a rerun lists and deletes keys there, and
	// refuses to go on in another. Empty in a record written before they
	// were recorded.
	Project        string `json:"project,omitempty"`
	ServiceAccount string `json:"service_account,omitempty"`
}

// Owner is the service account r began in, when recorded.
func (r *Rotation) Owner() (serviceaccount.ID, bool) {
	if r == nil {
		return serviceaccount.ID{}, false
	}
	id := serviceaccount.ID{Project: r.Project, ServiceAccount: r.ServiceAccount}
	return id, id != (serviceaccount.ID{})
}

// Begun reports whether r is recorded and has no key staged or switched
// to: its create may have made a key nobody holds.
func (r *Rotation) Begun() bool { return r != nil && !r.Staged() && !r.Switched() }

// Staged reports whether a new key is staged and not yet switched to.
func (r *Rotation) Staged() bool { return r != nil && r.NewKeyID != "" }

// Switched reports whether the profile switched to the new key, the old
// one left to delete.
func (r *Rotation) Switched() bool { return r != nil && r.OldKeyID != "" }

// ErrChanged is wrapped by a rotation step's error when the profile is no
// longer the one the rotation began with: logged in again, removed, or
// rotated by another process.
var ErrChanged = errors.New("changed while it was being rotated")

// checkEntries checks the entry names p records against profile name's
// own: a profiles file says which entries hold secrets, so none may name
// another's.
func (p Profile) checkEntries(name string) error {
	if p.SecretEntry != "" && p.SecretEntry != KeySecretKey(name, p.KeyID) {
		return fmt.Errorf("secret_entry %.80q is not the entry of its key", p.SecretEntry)
	}
	rot := p.Rotation
	if rot == nil {
		return nil
	}
	for _, id := range []string{rot.NewKeyID, rot.OldKeyID} {
		if err := serviceaccount.CheckID("key", id); id != "" && err != nil {
			return fmt.Errorf("rotation: %w", err)
		}
	}
	if id, ok := rot.Owner(); ok {
		if err := id.Check(); err != nil {
			return fmt.Errorf("rotation: %w", err)
		}
	}
	if rot.Staged() && rot.Switched() || rot.Switched() != (rot.OldEntry != "") ||
		rot.OldEntry != "" && rot.OldEntry != SecretKey(name) && rot.OldEntry != KeySecretKey(name, rot.OldKeyID) {
		return errors.New("rotation: the record is not one rotate writes")
	}
	return nil
}

// rotationLockWait is how long a rotation waits for another one of the
// same profile: not at all, in effect; the other one is reported.
const rotationLockWait = 200 * time.Millisecond

// LockRotation takes profile name's rotation lock, a private lock file
// next to the profiles file, in a directory checked as the profiles file's
// is (privatefile.CheckDir: a missing one is an error wrapping
// fs.ErrNotExist), so that two rotations of one profile never run at once,
// nor a login or logout beside one; the kernel releases it when its
// process dies. Another holding it is an error at once. Once it is held,
// what File read before is forgotten: it may be older than what the
// holder before wrote, and the caller reads the profile afresh.
func (r *Repository) LockRotation(ctx context.Context, name string) (unlock func(), err error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	path, err := r.Path()
	if err != nil {
		return nil, err
	}
	if err := privatefile.CheckDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, rotationLockWait)
	defer cancel()
	unlock, err = privatefile.Lock(ctx, path+".rotate-"+name+".lock", 10*time.Millisecond)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("profile %q is %w", name, ErrRotating)
	}
	if err == nil {
		r.forget()
	}
	return unlock, err
}

// rotating changes profile name under the profiles file's lock, once it is
// known to be the DT profile of key keyID still; otherwise the error wraps
// [ErrChanged].
func (r *Repository) rotating(ctx context.Context, name, keyID string, change func(p *Profile) error) error {
	return r.Update(ctx, func(f *File) (bool, error) {
		p, ok := f.Profiles[name]
		if !ok || p.Vault != nil || p.KeyID != keyID {
			return false, fmt.Errorf("profile %q %w", name, ErrChanged)
		}
		if err := change(&p); err != nil {
			return false, err
		}
		f.Profiles[name] = p
		return true, nil
	})
}

// BeginRotation records that a rotation of profile name, whose key is
// keyID, begins at create.From in service account owner, which holds
// keysBefore, and that the key it is about to create is made within
// create.
func (r *Repository) BeginRotation(ctx context.Context, name, keyID string, owner serviceaccount.ID, keysBefore []string, create serviceaccount.CreateWindow) error {
	return r.rotating(ctx, name, keyID, func(p *Profile) error {
		if p.Rotation != nil {
			return fmt.Errorf("profile %q: a rotation is recorded already", name)
		}
		create.From, create.Until = create.From.UTC(), create.Until.UTC()
		p.Rotation = &Rotation{KeysBefore: keysBefore, CreateWindow: create,
			Project: owner.Project, ServiceAccount: owner.ServiceAccount}
		return nil
	})
}

// StageKey keeps the secret of new key newKeyID, created at created, in an
// entry of its own in the store of profile name (key keyID), and then
// records it in the profile's begun rotation. The profile's own key and
// secret are untouched. A secret the store would not take is a
// [*StoreError]; a record that cannot be written takes the secret back.
func (r *Repository) StageKey(ctx context.Context, name, keyID, newKeyID string, created time.Time, secret string) error {
	a, secrets, entry, err := r.keyEntry(name, newKeyID)
	if err == nil {
		err = secrets.Set(entry, []byte(secret))
	}
	if err != nil {
		return &StoreError{Name: name, Store: a.SecretIn, Err: err}
	}
	if err := r.recordStaged(ctx, name, keyID, newKeyID, created); err != nil {
		if derr := secrets.Delete(entry); derr != nil {
			return fmt.Errorf("%w; the new key's secret stays in the %s: %v", err, a.SecretIn, derr)
		}
		return err
	}
	return nil
}

// AdoptKey records key newKeyID in profile name's begun rotation when its
// secret is in the key's entry already: a rotation stored it and was
// interrupted before it recorded it. found says whether it was there.
func (r *Repository) AdoptKey(ctx context.Context, name, keyID, newKeyID string, created time.Time) (found bool, err error) {
	if _, err := r.KeySecret(name, newKeyID); err != nil {
		if errors.Is(err, keyring.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	return true, r.recordStaged(ctx, name, keyID, newKeyID, created)
}

func (r *Repository) recordStaged(ctx context.Context, name, keyID, newKeyID string, created time.Time) error {
	return r.rotating(ctx, name, keyID, func(p *Profile) error {
		if p.Rotation == nil || p.Rotation.Staged() || p.Rotation.Switched() {
			return fmt.Errorf("profile %q: no rotation waits for a new key", name)
		}
		p.Rotation.NewKeyID, p.Rotation.NewKeyCreated = newKeyID, created.UTC()
		return nil
	})
}

// KeySecret reads the secret of key keyID of profile name from its entry
// ([KeySecretKey]) in the profile's store: a staged key's. One that is not
// there is an error wrapping keyring.ErrNotFound.
func (r *Repository) KeySecret(name, keyID string) (string, error) {
	a, secrets, entry, err := r.keyEntry(name, keyID)
	if err != nil {
		return "", err
	}
	b, err := secrets.Get(entry)
	if err != nil {
		return "", fmt.Errorf("reading the secret of key %s of profile %q from the %s: %w", keyID, name, a.SecretIn, err)
	}
	return string(b), nil
}

// keyEntry is DT profile name's account, its secrets' store, and the entry
// of key keyID there.
func (r *Repository) keyEntry(name, keyID string) (Account, keyring.Store, string, error) {
	if err := serviceaccount.CheckID("key", keyID); err != nil {
		return Account{}, nil, "", err
	}
	a, err := r.Account(name)
	if err != nil {
		return Account{}, nil, "", err
	}
	if a.Vault != nil {
		return Account{}, nil, "", fmt.Errorf("profile %q reads its tokens from Vault: it has no key of its own", name)
	}
	secrets, err := r.Secrets(a.SecretIn)
	return a, secrets, KeySecretKey(name, keyID), err
}

// SwitchKey makes the staged key of profile name (key keyID) its key: key
// id, secret entry, creation time and cache nonce change in one write of
// the profiles file, and the rotation keeps the old key id and entry until
// [Repository.EndRotation].
func (r *Repository) SwitchKey(ctx context.Context, name, keyID string) error {
	return r.rotating(ctx, name, keyID, func(p *Profile) error {
		rot := p.Rotation
		if !rot.Staged() {
			return fmt.Errorf("profile %q: no new key is staged", name)
		}
		rot.OldKeyID, rot.OldEntry = p.KeyID, cmp.Or(p.SecretEntry, SecretKey(name))
		p.KeyID, p.SecretEntry, p.KeyCreated = rot.NewKeyID, KeySecretKey(name, rot.NewKeyID), rot.NewKeyCreated
		p.CacheNonce = newCacheNonce() // a new secret
		rot.NewKeyID, rot.NewKeyCreated = "", time.Time{}
		return nil
	})
}

// EndRotation ends profile name's rotation (its key keyID): first the
// record goes, under the profiles file's lock, once the profile there is
// still of key keyID with a rotation recorded (else an error wrapping
// [ErrChanged], and nothing is removed); then the secret the rotation
// kept beside the profile's own (the old key's once switched; before, the
// staged key's, which is then given up), as that record named it, never
// the entry the profile uses. The entry is removed after the record, so
// that a process whose read of the profile is stale cannot remove a
// secret a login has put there since: one that cannot be removed is left
// behind, and the error says where.
func (r *Repository) EndRotation(ctx context.Context, name, keyID string) error {
	var ended Account
	err := r.rotating(ctx, name, keyID, func(p *Profile) error {
		if p.Rotation == nil {
			return fmt.Errorf("profile %q %w: its rotation record is gone", name, ErrChanged)
		}
		ended = p.account(name)
		p.Rotation = nil
		return nil
	})
	if err != nil {
		return err
	}
	for _, pl := range ended.rotationPlaces() {
		if pl == ended.place() {
			continue
		}
		if err := r.deleteSecret(name, pl, true); err != nil {
			return fmt.Errorf("its rotation is ended, but %w: remove entry %s by hand", err, pl.key)
		}
	}
	return nil
}

// rotationPlaces are the entries a's unfinished rotation keeps secrets
// in besides a's own: the staged key's, or the old key's.
func (a Account) rotationPlaces() []place {
	switch rot := a.Rotation; {
	case rot.Staged():
		return []place{{a.SecretIn, KeySecretKey(a.Name, rot.NewKeyID)}}
	case rot.Switched():
		return []place{{a.SecretIn, rot.OldEntry}}
	}
	return nil
}
