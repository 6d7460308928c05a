package profile

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// Repository is a user's profiles: the profiles file, and each DT
// profile's secret, in the OS keyring or, for a profile stored with
// `login --store file`, in a private file in [SecretsDir]. It owns the
// transactions that change them together: login saves a profile
// ([Repository.Save]), logout removes one ([Repository.Remove]), status
// lists them ([Repository.List]); the token sources use it to find a
// profile's account, and read its secret only when a refresh needs it.
//
// Nothing is read until asked for: a token call without a profile, on a
// machine without HOME, never looks for the profiles file. The file is read
// once per Repository and then kept until [Repository.Stale] sees it
// changed (a long-lived process, the plugin, asks); the OS keyring is
// opened once.
type Repository struct {
	getenv         func(string) string
	keyringTimeout time.Duration
	log            *slog.Logger

	mu      sync.Mutex
	file    *File
	read    fs.FileInfo // the profiles file as File found it; nil when missing or not followed
	follow  bool        // FollowChanges: Stale compares read with the file
	keyring keyring.Store
}

// NewRepository returns the repository of the profiles under getenv's
// config directory (see [DefaultPath]). keyringTimeout bounds each OS
// keyring call (zero means the store's default); log, if not nil, gets the
// keyring's steps.
func NewRepository(getenv func(string) string, keyringTimeout time.Duration, log *slog.Logger) *Repository {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Repository{getenv: getenv, keyringTimeout: keyringTimeout, log: log}
}

// Account is what a profile names, without its secret: a DT service
// account, or the Vault path of a fleet profile.
type Account struct {
	// Name is the profile's name.
	Name string
	// Credentials is the DT service account, without its secret (and
	// without the default endpoint when the profile names none); zero for
	// a Vault profile.
	Credentials auth.Credentials
	// Vault is the fleet profile's Vault path and login; nil for a DT
	// service account.
	Vault *vaultenv.Reference
	// Hosts are the extra hosts the git and docker helpers give the
	// profile's tokens to.
	Hosts []string
	// SecretIn is where a DT account's secret is kept: [SecretInKeyring]
	// or [SecretInFile]; SecretEntry the entry there that holds it
	// ([SecretKey] or [KeySecretKey]).
	SecretIn    string
	SecretEntry string
	// KeyCreated is when the key was created, zero when not known.
	KeyCreated time.Time
	// Rotation is a rotation of the key under way, nil when none.
	Rotation *Rotation
	// CacheNonce is the DT profile's [Profile.CacheNonce]: use
	// [Account.CacheIdentity].
	CacheNonce string
}

// Path returns the profiles file's path.
func (r *Repository) Path() (string, error) { return DefaultPath(r.getenv) }

// File returns the profiles file's content, read on the first call. An
// unreadable, invalid or untrusted file is a configuration error
// (package misconfig): the file must be fixed first.
func (r *Repository) File() (*File, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.file != nil {
		return r.file, nil
	}
	path, err := r.Path()
	if err != nil {
		return nil, err
	}
	// Looked at before the read, by a process that follows changes: a
	// change in between is seen by the next Stale, and read again. A
	// one-shot call, the cached hot path, pays no system call for it.
	var read fs.FileInfo
	if r.follow {
		read, _ = os.Stat(path)
	}
	f, err := Load(path)
	if err != nil {
		return nil, misconfig.Wrap(err)
	}
	r.file, r.read = f, read
	return f, nil
}

// Stale reports whether the profiles file changed since File read it (it
// was replaced, as every write does, or written, created or removed), and
// then forgets what File read, so that the next File reads it again. A
// process that lives through a login, logout or rotate (the plugin) asks
// before it uses what it read: a profile's key, secret and hosts are
// always in the profiles file's latest write, since every change of a
// secret writes the profile too. It is false, and costs nothing, before
// the first File and in a repository that does not [Repository.FollowChanges].
func (r *Repository) Stale() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.file == nil || !r.follow {
		return false
	}
	path, err := r.Path()
	if err != nil {
		return false
	}
	now, _ := os.Stat(path)
	if sameFile(r.read, now) {
		return false
	}
	r.file, r.read = nil, nil
	return true
}

// FollowChanges makes r notice the profiles file's changes ([Repository.Stale]):
// for a process that lives through a login, logout or rotate (the plugin),
// not for a one-shot call, which reads the file once.
func (r *Repository) FollowChanges() {
	r.mu.Lock()
	r.follow = true
	r.mu.Unlock()
}

// sameFile says whether a and b, each nil for a missing file, are the same
// file with the same size and modification time.
func sameFile(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// Account returns profile name's account. A name that is not valid, or not
// a configured profile, is a configuration error wrapping [ErrUnknown].
func (r *Repository) Account(name string) (Account, error) {
	if err := ValidateName(name); err != nil {
		return Account{}, misconfig.Wrap(notAProfile{err})
	}
	f, err := r.File()
	if err != nil {
		return Account{}, err
	}
	p, err := f.Get(name)
	if err != nil {
		return Account{}, misconfig.Wrap(err)
	}
	return p.account(name), nil
}

// account is p's account as profile name.
func (p Profile) account(name string) Account {
	a := Account{Name: name, Vault: p.Vault, Hosts: p.Hosts}
	if p.Vault == nil {
		a.Credentials = auth.Credentials{KeyID: p.KeyID, Email: p.Email, TokenEndpoint: p.TokenEndpoint}
		a.SecretIn, a.SecretEntry = p.SecretIn(), cmp.Or(p.SecretEntry, SecretKey(name))
		a.KeyCreated, a.Rotation, a.CacheNonce = p.KeyCreated, p.Rotation, p.CacheNonce
	}
	return a
}

// CacheIdentity is who DT profile a is to the token cache when it asks for
// the tokens cached under key (keyring.Account.Key): the digest of its
// cache nonce, which no other profile, no other secret of its own, and no
// caller giving a secret shares, so that it is served only the tokens it
// obtained, and serving them reads no secret. A profile saved before
// there were nonces proves its name and key id instead: its tokens go to
// no other profile and no environment's secret either, and a new secret
// comes with a nonce.
func (a Account) CacheIdentity(key string) keyring.Identity {
	if a.CacheNonce != "" {
		return keyring.NewIdentity(key, "profile nonce", a.CacheNonce)
	}
	return keyring.NewIdentity(key, "profile name", a.Name, a.Credentials.KeyID)
}

// newCacheNonce returns a new [Profile.CacheNonce]: 128 random bits in hex.
func newCacheNonce() string {
	var b [16]byte
	rand.Read(b[:]) // never fails: it crashes the program instead
	return hex.EncodeToString(b[:])
}

// List returns every profile's account, in name order, for status: where
// a DT profile's secret is kept, not whether it is there (nothing is read
// but the profiles file).
func (r *Repository) List() ([]Account, error) {
	f, err := r.File()
	if err != nil {
		return nil, err
	}
	accounts := make([]Account, 0, len(f.Profiles))
	for _, name := range f.Names() {
		accounts = append(accounts, f.Profiles[name].account(name))
	}
	return accounts, nil
}

// Secret reads profile name's secret from where the profile keeps it. A
// secret that is not there is a configuration error saying to log in.
func (r *Repository) Secret(name string) (string, error) {
	a, err := r.Account(name)
	if err != nil {
		return "", err
	}
	pl := a.place()
	store, err := r.Secrets(pl.store)
	if err != nil {
		return "", err
	}
	b, err := store.Get(pl.key)
	if errors.Is(err, keyring.ErrNotFound) {
		return "", misconfig.Errorf("profile %q has no secret in the %s: run `dt-credential-helper login --profile %s`", name, a.SecretIn, name)
	}
	if err != nil {
		return "", fmt.Errorf("reading the secret of profile %q from the %s: %w", name, a.SecretIn, err)
	}
	return string(b), nil
}

// Secrets returns the store that keeps profile secrets where says:
// [SecretInKeyring], the OS keyring whatever the token cache mode, or
// [SecretInFile], private files next to the profiles file, which only
// `login --store file` chooses. Entries are named by [SecretKey].
func (r *Repository) Secrets(where string) (keyring.Store, error) {
	if where == SecretInFile {
		path, err := r.Path()
		if err != nil {
			return nil, err
		}
		dir := SecretsDir(path)
		return secretFiles{keyring.NewFileStore(dir), dir}, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keyring != nil {
		return r.keyring, nil
	}
	s, err := keyring.OpenStore(keyring.ModeKeyring, keyring.StoreConfig{Timeout: r.keyringTimeout, Log: r.log})
	if err != nil {
		return nil, err
	}
	r.keyring = s
	return s, nil
}

// Update changes the profiles file under its lock, as [Update] does, and
// forgets the content File read, so that a later File reads the change.
func (r *Repository) Update(ctx context.Context, change func(*File) (changed bool, err error)) error {
	path, err := r.Path()
	if err != nil {
		return err
	}
	err = Update(ctx, path, change)
	r.forget()
	return err
}

// forget drops what File read, so that the next File reads the file again.
func (r *Repository) forget() {
	r.mu.Lock()
	r.file, r.read = nil, nil
	r.mu.Unlock()
}

// secretFiles is the file store of profile secrets. Its directory sits in
// the config directory, which, unlike a directory the user names, may be
// created with its parents, as the profiles file's is.
type secretFiles struct {
	*keyring.FileStore
	dir string
}

// Get reads key's secret file, once its directory is known to be a
// private one of ours: the file's own checks do not stop whoever can write
// the directory from swapping files in it.
func (s secretFiles) Get(key string) ([]byte, error) {
	if err := privatefile.CheckDir(s.dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", s.dir, keyring.ErrNotFound)
		}
		return nil, err
	}
	return s.FileStore.Get(key)
}

func (s secretFiles) Set(key string, data []byte) error {
	if err := privatefile.EnsureDir(filepath.Dir(s.dir), true); err != nil {
		return err
	}
	return s.FileStore.Set(key, data)
}

// notAProfile is [ErrUnknown] with a message of its own: a name
// [ValidateName] refuses, asked for as a profile, with ValidateName's; a
// profile Remove found nowhere, saying where it looked.
type notAProfile struct{ error }

func (e notAProfile) Is(target error) bool { return target == ErrUnknown }
