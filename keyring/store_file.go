package keyring

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// MaxEntrySize bounds what a store reads back: an entry is a token of a few
// KiB, so anything larger is not ours and is not read into memory.
const MaxEntrySize = 64 << 10

// ErrInsecure is wrapped by the file store's errors for a cache file or
// directory that others could read or write; its contents are not trusted.
var ErrInsecure = privatefile.ErrInsecure

// ErrBadKey is wrapped by every store's errors for a key that is not a safe
// file name.
var ErrBadKey = errors.New("invalid cache key")

// PermissionError reports a cache file or directory whose mode or owner
// makes it unsafe. It wraps [ErrInsecure]; its Error says which path is
// unsafe and why, and never quotes the contents.
type PermissionError = privatefile.PermissionError

// DefaultDir returns the cache directory: DT_CACHE_DIR, else
// $XDG_CACHE_HOME/dt-credential-helper, else ~/.cache/dt-credential-helper.
// A relative DT_CACHE_DIR is refused: it would put token caches in whatever
// directory the helper runs in (git runs it inside the repository).
// getenv is os.Getenv outside tests.
func DefaultDir(getenv func(string) string) (string, error) {
	if d := getenv("DT_CACHE_DIR"); d != "" {
		if !filepath.IsAbs(d) {
			return "", fmt.Errorf("DT_CACHE_DIR %q is a relative path: set it to an absolute one", d)
		}
		return filepath.Clean(d), nil
	}
	if d := getenv("XDG_CACHE_HOME"); d != "" && filepath.IsAbs(d) {
		// The XDG spec says a relative value is invalid and must be ignored.
		return filepath.Join(d, Service), nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", errors.New("cannot find a cache directory: set DT_CACHE_DIR, XDG_CACHE_HOME or HOME")
	}
	return filepath.Join(home, ".cache", Service), nil
}

// FileStore keeps one file per key in a private directory. Writes are atomic
// (temporary file, fsync, rename), so a concurrent reader in any process sees
// the old entry or the new one, never a torn one. The rules below are those
// of keyring/privatefile, which the profiles file follows too.
//
// A file that group or others can access, or that another user owns, is
// refused on read with a [*PermissionError] rather than served; the next Set
// replaces it with a private file (refuse and replace: nothing is chmod'ed in
// place, because the contents may already have been tampered with). The
// directory is created 0700 when missing; an existing one is used only when
// it is a real directory (not a symlink) of ours that group and others
// cannot get into, and is never re-moded: Set refuses any other with a
// [*PermissionError].
type FileStore struct {
	dir string
	// dirChecked says the opener checked dir and every directory above it
	// (CacheDir): reads do not walk them again.
	dirChecked bool
}

var _ Store = (*FileStore)(nil)

// NewFileStore returns the store for dir. Nothing is touched until the first
// call; the directory is created (0700) on the first Set, but not its
// parents: the caller creates those it means to (see [DefaultDir]).
func NewFileStore(dir string) *FileStore { return &FileStore{dir: dir} }

// Name implements [Store].
func (s *FileStore) Name() string { return "file" }

// Get implements [Store]. A missing file or directory is [ErrNotFound].
func (s *FileStore) Get(key string) ([]byte, error) {
	path, err := s.path(key)
	if err != nil {
		return nil, err
	}
	// On unix a symlink planted in the cache directory is not followed
	// (O_NOFOLLOW); elsewhere it is, and the directory's ACL under the user
	// profile is what keeps others from planting one.
	read := privatefile.ReadFile
	if s.dirChecked {
		read = privatefile.ReadFileInCheckedDir
	}
	data, err := read(path, MaxEntrySize, privatefile.Check)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	if err != nil {
		var pe *PermissionError
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, fmt.Errorf("reading cache file: %w", err)
	}
	if len(data) > MaxEntrySize {
		return nil, fmt.Errorf("%s: cache file is larger than %d bytes", path, MaxEntrySize)
	}
	return data, nil
}

// Set implements [Store]: data goes to a temporary file in the same
// directory (created 0700 when missing), is synced, and renamed over the
// entry.
func (s *FileStore) Set(key string, data []byte) error {
	path, err := s.path(key)
	if err != nil {
		return err
	}
	if err := privatefile.Write(path, data); err != nil {
		return fmt.Errorf("writing cache file: %w", err)
	}
	s.removeStaleTemps(key)
	return nil
}

// staleTempAge is how old a temporary file must be for a writer to take it
// for one left behind by a writer killed before its rename. A live writer
// renames within milliseconds; were one that slow, losing its file would
// only cost it caching that one token.
const staleTempAge = time.Minute

// removeStaleTemps removes the temporary files of key (".<key>.tmp-*", as
// privatefile.Write names them) that killed writers left behind, which would
// otherwise pile up. Failures are ignored: the next
// writer tries again.
func (s *FileStore) removeStaleTemps(key string) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, de := range des {
		if !strings.HasPrefix(de.Name(), "."+key+".tmp-") {
			continue
		}
		if fi, err := de.Info(); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > staleTempAge {
			_ = os.Remove(filepath.Join(s.dir, de.Name()))
		}
	}
}

// Delete implements [Store].
func (s *FileStore) Delete(key string) error {
	path, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting cache file: %w", err)
	}
	return nil
}

func (s *FileStore) path(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if s.dir == "" {
		return "", errors.New("no cache directory configured")
	}
	return filepath.Join(s.dir, key), nil
}

// maxKeyLen keeps keys well inside file name limits once ".lock" or a
// temporary suffix is added.
const maxKeyLen = 128

// checkKey allows only safe file names ([A-Za-z0-9._-], no leading dot), so
// no key can point outside the cache directory or at a hidden temporary
// file, nor at a lock file (".lock" suffix, see [Lock]).
func checkKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrBadKey)
	case len(key) > maxKeyLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrBadKey, maxKeyLen)
	case key[0] == '.':
		return fmt.Errorf("%w %q: starts with a dot", ErrBadKey, key)
	case strings.HasSuffix(key, ".lock"):
		return fmt.Errorf("%w %q: the .lock suffix is kept for lock files", ErrBadKey, key)
	}
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w %q: only letters, digits, '.', '_' and '-' are allowed", ErrBadKey, key)
		}
	}
	return nil
}
