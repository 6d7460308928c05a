// Package profile is the profiles repository: named service account
// profiles, their non-secret fields in a small JSON file under the user's
// config directory (File, Load, Update), and each DT profile's secret in the
// OS keyring or a private file next to it, never in the JSON file.
// [Repository] puts the two together: it saves, removes and lists profiles
// with their secrets, in an order that leaves nothing half done behind, and
// returns a profile's Account and secret, which the token sources read on a
// refresh.
package profile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// EnvProfile selects a profile when --profile is not given.
const EnvProfile = "DT_PROFILE"

// fileVersion is the format version of the profiles file.
const fileVersion = 1

// maxFile bounds the profiles file: Load reads no more, and Save writes
// no more, since a file it could not read back would stop every command
// of every profile.
const maxFile = 1 << 20

// ErrUnknown is wrapped by errors for a profile that is not configured.
var ErrUnknown = errors.New("unknown profile")

// Profile is one named service account, without its secret.
type Profile struct {
	KeyID         string `json:"key_id"`
	Email         string `json:"email"`
	TokenEndpoint string `json:"token_endpoint,omitempty"`
	// Hosts are extra hosts (host or host:port) this profile's tokens are
	// handed to by the git and docker helpers.
	Hosts []string `json:"hosts,omitempty"`
	// SecretStore says where the secret is: [SecretInKeyring] (the
	// default, also when empty) or [SecretInFile].
	SecretStore string `json:"secret_store,omitempty"`

	// SecretEntry is the name of the entry that holds the secret in its
	// store: empty for [SecretKey] of the profile's name, where login keeps
	// it; [KeySecretKey] of the name and key id for a key rotate stored,
	// since a new key's secret is written beside the old one, never over
	// it.
	SecretEntry string `json:"secret_entry,omitempty"`
	// KeyCreated is when the key was created, when known: rotate learns
	// it from DT; a login does not.
	KeyCreated time.Time `json:"key_created,omitzero"`
	// Rotation is a replacement of the key under way (rotate), recorded
	// so that a rerun finishes what a crash interrupted; nil when none.
	Rotation *Rotation `json:"rotation,omitempty"`
	// CacheNonce is 128 random bits in hex, made anew whenever the
	// profile's secret changes ([Repository.Save], the switch of key of a
	// rotation): what the profile proves itself with to the token cache
	// ([Account.CacheIdentity]), so that its cached tokens go to no other
	// profile, to no earlier secret of its own, and to no caller giving the
	// secret in the environment, without reading its secret. Empty in a
	// profile saved before there were nonces, and in a Vault profile.
	CacheNonce string `json:"cache_nonce,omitempty"`

	// Vault, when set, makes this a fleet profile: its tokens are read
	// from a Vault path served by vault-plugin-secrets-dt, and it has no
	// key id, email or secret of its own.
	Vault *vaultenv.Reference `json:"vault,omitempty"`
}

// Where a profile's secret can be kept (login --store).
const (
	// SecretInKeyring is the OS keyring: the Secret Service, the macOS
	// Keychain or the Windows Credential Manager.
	SecretInKeyring = "keyring"
	// SecretInFile is a private file next to the profiles file, for
	// machines without a keyring; only chosen explicitly.
	SecretInFile = "file"
)

// SecretIn returns where p's secret is kept: [SecretInKeyring] or
// [SecretInFile].
func (p Profile) SecretIn() string {
	if p.SecretStore == SecretInFile {
		return SecretInFile
	}
	return SecretInKeyring
}

// SecretsDir is the directory that holds the secrets of profiles stored
// with `login --store file`, one private file each, next to the profiles
// file at path.
func SecretsDir(path string) string { return filepath.Join(filepath.Dir(path), "secrets") }

// File is the profiles file's content.
type File struct {
	Version  int                `json:"version"`
	Profiles map[string]Profile `json:"profiles"`
}

// ValidateName rejects names that cannot be a profile (they are used in
// keyring entry names).
func ValidateName(name string) error {
	// A loop, not a regexp: compiling `[...]{0,63}` costs half a millisecond
	// at every start of a program whose whole job takes a few.
	ok := len(name) >= 1 && len(name) <= 64 && isAlnum(name[0])
	for i := 1; ok && i < len(name); i++ {
		c := name[i]
		ok = isAlnum(c) || c == '.' || c == '_' || c == '-'
	}
	if !ok {
		return fmt.Errorf("invalid profile name %.70q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// SecretKey is the keyring entry name that holds a profile's secret.
func SecretKey(name string) string { return "secret-" + name }

// KeySecretKey is the name of the entry that holds the secret of key keyID
// of profile name, as rotate stores it: the key id comes first and has no
// '.' (serviceaccount.CheckID), so no two profiles' keys share an entry,
// and the prefix is not SecretKey's, so none is another profile's
// SecretKey.
func KeySecretKey(name, keyID string) string { return "keysecret-" + keyID + "." + name }

// DefaultPath is $XDG_CONFIG_HOME/dt-credential-helper/profiles.json, or
// under ~/.config when XDG_CONFIG_HOME is unset or relative (the XDG spec
// says a relative value is invalid and must be ignored; keyring.DefaultDir
// ignores it too). getenv is os.Getenv outside tests.
func DefaultPath(getenv func(string) string) (string, error) {
	dir := getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(dir) {
		home := getenv("HOME")
		if home == "" {
			var err error
			if home, err = os.UserHomeDir(); err != nil {
				return "", fmt.Errorf("cannot find the config directory: set XDG_CONFIG_HOME or HOME")
			}
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "dt-credential-helper", "profiles.json"), nil
}

// Load reads the profiles file; a missing file is an empty set. The file
// says which hosts get which account's tokens, so it is trusted only when it
// is a regular file of ours that group and others cannot write; a symlink is
// not followed and a FIFO does not block the read: each is refused with a
// [*privatefile.PermissionError].
func Load(path string) (*File, error) {
	if err := privatefile.CheckDir(filepath.Dir(path)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &File{Version: fileVersion, Profiles: map[string]Profile{}}, nil
		}
		return nil, fmt.Errorf("profiles directory not trusted: %w", err)
	}
	data, err := privatefile.ReadFile(path, maxFile, privatefile.CheckOwned)
	if errors.Is(err, fs.ErrNotExist) {
		return &File{Version: fileVersion, Profiles: map[string]Profile{}}, nil
	}
	var perr *privatefile.PermissionError
	if errors.As(err, &perr) {
		return nil, fmt.Errorf("profiles file not trusted: %w; remove it and log in again, or make it a private file of yours (chmod 600)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading profiles: %w", err)
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("profiles file %s is larger than 1 MiB", path)
	}
	return Parse(data, path)
}

// lockWait bounds how long [Update] waits for another process's update: a
// read, a change and a small write take milliseconds.
const lockWait = 10 * time.Second

// Update changes the profiles file at path: it takes the file's lock
// (<path>.lock, a private file like the profiles file), reads the file,
// calls change, and when change reports a change, writes the file
// atomically, all under the lock, so concurrent logins and logouts each see
// the others' changes and none is lost. The directory is created 0700 with
// its parents when missing, and must otherwise be a private directory of
// ours. The lock is waited for at most ten seconds, or until ctx ends.
func Update(ctx context.Context, path string, change func(*File) (changed bool, err error)) error {
	if err := privatefile.EnsureDir(filepath.Dir(path), true); err != nil {
		return fmt.Errorf("profiles directory: %w", err)
	}
	unlock, err := privatefile.LockWithin(ctx, path+".lock", lockWait)
	if err != nil {
		return fmt.Errorf("locking the profiles file %s: %w", path, err)
	}
	defer unlock()
	f, err := Load(path)
	if err != nil {
		return err
	}
	changed, err := change(f)
	if err != nil || !changed {
		return err
	}
	return f.Save(path)
}

// Parse parses the content of a profiles file; name is used in errors only.
func Parse(data []byte, name string) (*File, error) {
	var pf File
	if err := json.Unmarshal(data, &pf); err != nil {
		return nil, fmt.Errorf("profiles file %s is not valid: %v; fix or remove it", name, err)
	}
	if pf.Version != fileVersion {
		return nil, fmt.Errorf("profiles file %s has version %d, this program reads version %d", name, pf.Version, fileVersion)
	}
	if pf.Profiles == nil {
		pf.Profiles = map[string]Profile{}
	}
	for n, p := range pf.Profiles {
		if err := ValidateName(n); err != nil {
			return nil, fmt.Errorf("profiles file %s: %w", name, err)
		}
		if p.SecretStore != "" && p.SecretStore != SecretInKeyring && p.SecretStore != SecretInFile {
			return nil, fmt.Errorf("profiles file %s: profile %q: secret_store %.40q is neither %q nor %q", name, n, p.SecretStore, SecretInKeyring, SecretInFile)
		}
		if p.CacheNonce != "" && !isNonce(p.CacheNonce) {
			return nil, fmt.Errorf("profiles file %s: profile %q: cache_nonce %.40q is not 32 lowercase hex digits: "+
				"remove the cache_nonce member from the file (the next login makes a new one)", name, n, p.CacheNonce)
		}
		if err := p.checkEntries(n); err != nil {
			return nil, fmt.Errorf("profiles file %s: profile %q: %w", name, n, err)
		}
	}
	return &pf, nil
}

// isNonce reports whether s is a cache nonce as newCacheNonce makes it:
// one shorter or guessable would be proved by whoever guessed it.
func isNonce(s string) bool {
	ok := len(s) == 32
	for i := 0; ok && i < len(s); i++ {
		ok = '0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f'
	}
	return ok
}

// Get returns the named profile or an error wrapping ErrUnknown.
func (f *File) Get(name string) (Profile, error) {
	p, ok := f.Profiles[name]
	if !ok {
		return Profile{}, fmt.Errorf("%w %q: create it with `dt-credential-helper login --profile %s`", ErrUnknown, name, name)
	}
	return p, nil
}

// Names returns the profile names in order.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.Profiles))
	for n := range f.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Save writes f to path atomically (temporary file, fsync, rename) as a
// 0600 file in a private directory, as the token cache's directory is: a
// missing one is created 0700 with its parents; an existing one must be a
// real directory of ours that group and others cannot get into, and is
// never re-moded. Content larger than Load reads (1 MiB) is refused and
// nothing is written.
func (f *File) Save(path string) error {
	if err := privatefile.EnsureDir(filepath.Dir(path), true); err != nil {
		return fmt.Errorf("saving profiles: %w", err)
	}
	f.Version = fileVersion
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding profiles: %w", err)
	}
	if len(data)+1 > maxFile {
		return fmt.Errorf("saving profiles: %d bytes would make the profiles file larger than 1 MiB, which could not be read back; nothing was written", len(data)+1)
	}
	if err := privatefile.Write(path, append(data, '\n')); err != nil {
		return fmt.Errorf("saving profiles: %w", err)
	}
	return nil
}
