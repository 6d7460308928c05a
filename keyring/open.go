package keyring

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Mode selects where tokens are cached (--cache, DT_TOKEN_CACHE).
type Mode string

// The cache modes.
const (
	// ModeAuto uses the OS keyring, and files once the keyring turns out to
	// be unavailable.
	ModeAuto Mode = "auto"
	// ModeKeyring uses only the OS keyring; its failures are errors.
	ModeKeyring Mode = "keyring"
	// ModeFile uses only files in the cache directory.
	ModeFile Mode = "file"
	// ModeNone caches nothing.
	ModeNone Mode = "none"
)

// ParseMode parses a --cache or DT_TOKEN_CACHE value; empty means
// [ModeAuto].
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return ModeAuto, nil
	case ModeAuto, ModeKeyring, ModeFile, ModeNone:
		return m, nil
	}
	return "", fmt.Errorf("unknown cache mode %q: want auto, keyring, file or none", s)
}

// Options configures [Open].
type Options struct {
	// Dir is the file cache directory; empty means [DefaultDir] from the
	// environment.
	Dir string
	// Timeout bounds each keyring call; zero means [DefaultTimeout].
	Timeout time.Duration
	// Log receives the keyring fallback at Debug level; nil discards it.
	Log *slog.Logger
}

// Open returns the store for mode. It touches neither the keyring nor the
// disk: the first Get is the first D-Bus call, so the hot path pays for
// nothing it does not use.
func Open(mode Mode, opts Options) (Store, error) {
	fileStore := func() (*FileStore, error) {
		dir := opts.Dir
		if dir == "" {
			var err error
			if dir, err = DefaultDir(os.Getenv); err != nil {
				return nil, err
			}
		}
		return NewFileStore(dir), nil
	}
	switch mode {
	case ModeNone:
		return NoneStore{}, nil
	case ModeKeyring:
		return NewKeyringStore(opts.Timeout), nil
	case ModeFile:
		return fileStore()
	case ModeAuto, "":
		f, err := fileStore()
		if err != nil {
			return nil, err
		}
		a := NewAutoStore(NewKeyringStore(opts.Timeout), f, opts.Log)
		a.hungMarker = filepath.Join(f.Dir(), hungMarkerName)
		return a, nil
	}
	return nil, fmt.Errorf("unknown cache mode %q: want auto, keyring, file or none", string(mode))
}

// AutoStore is the auto mode: a primary store (the keyring) and a fallback
// (files). The first primary call that fails with [ErrUnavailable] switches
// the whole process to the fallback, once: a keyring that hung or was missing
// once is not asked again, so only one invocation pays for it.
//
// Entries can be in the fallback while the primary works (one too big for
// the keyring, or one written by an earlier process that had no keyring), so
// a primary miss is looked up in the fallback too: a file read, cheap next to
// the refresh a miss leads to. A write removes the key from the store it did
// not go to, so a stale copy never hides or outlives the current entry, and
// Delete removes both, so logout leaves nothing behind.
type AutoStore struct {
	primary, fallback Store
	log               *slog.Logger
	// hungMarker, when set, is a file whose recent modification time says a
	// keyring call hung in some process; see checkHung.
	hungMarker string

	fellBack atomic.Bool
	once     sync.Once
	reason   string // set once, before fellBack becomes true
}

var _ Store = (*AutoStore)(nil)

// NewAutoStore returns the auto store over primary and fallback; log may be
// nil.
func NewAutoStore(primary, fallback Store, log *slog.Logger) *AutoStore {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &AutoStore{primary: primary, fallback: fallback, log: log}
}

// FallbackReason says why the store moved to its fallback, or "" while it
// uses the primary; for status output.
func (s *AutoStore) FallbackReason() string {
	if !s.fellBack.Load() {
		return ""
	}
	return s.reason
}

// Name implements [Store]: the backend in use, with the reason for a
// fallback, e.g. "file (keyring unavailable: no D-Bus session bus ...)".
func (s *AutoStore) Name() string {
	if r := s.FallbackReason(); r != "" {
		return fmt.Sprintf("%s (%s)", s.fallback.Name(), r)
	}
	return s.primary.Name()
}

// hungMarkerName is the file in the cache directory that remembers a hung
// keyring across processes.
const hungMarkerName = "keyring-unresponsive"

// hungMemory is how long a hung keyring is not asked again by any process.
// A hang costs the whole keyring timeout; without this every kubectl or git
// call would pay it while the keyring stays hung (a Secret Service waiting
// on an unlock prompt nobody sees). An unreachable keyring fails fast and is
// not remembered.
const hungMemory = 5 * time.Minute

// checkHung moves the store to its fallback at once when another process
// found the keyring hung less than hungMemory ago. One stat on the hot path.
func (s *AutoStore) checkHung() {
	if s.hungMarker == "" {
		return
	}
	fi, err := os.Stat(s.hungMarker)
	if err != nil {
		return
	}
	if since := time.Since(fi.ModTime()); since >= 0 && since < hungMemory {
		s.fallBack(fmt.Errorf("%w: it did not answer %v ago; asking it again after %v", ErrUnavailable, since.Truncate(time.Second), hungMemory))
	}
}

// rememberHung records that the keyring hung, for the processes after this.
func (s *AutoStore) rememberHung(err error) {
	if s.hungMarker == "" || !errors.Is(err, errNoAnswer) {
		return
	}
	// The content is only for a curious reader; the time is what counts.
	werr := ensurePrivateDir(filepath.Dir(s.hungMarker))
	if werr == nil {
		// Writing (never empty) sets the modification time that counts.
		werr = os.WriteFile(s.hungMarker, []byte(err.Error()+"\n"), 0o600)
	}
	if werr != nil {
		s.log.Debug("token cache: remembering the hung keyring failed", "err", werr)
	}
}

// usePrimary says whether to ask the keyring: not once the store has fallen
// back, nor while another process's hung marker is fresh.
func (s *AutoStore) usePrimary() bool {
	if !s.fellBack.Load() {
		s.checkHung()
	}
	return !s.fellBack.Load()
}

// Get implements [Store]. The keyring is read first; Set keeps an entry in
// one of the two stores only, so whichever has it holds the current one.
func (s *AutoStore) Get(key string) ([]byte, error) {
	if s.usePrimary() {
		data, err := s.primary.Get(key)
		switch {
		case err == nil:
			return data, nil
		case errors.Is(err, ErrUnavailable):
			s.fallBack(err)
		case !errors.Is(err, ErrNotFound):
			return nil, err
		}
	}
	return s.fallback.Get(key)
}

// Set implements [Store]. The entry ends up in one store only: a copy left
// in the other would be served in its place later (a keyring entry hides a
// file entry, since the keyring is read first; a file copy would outlive a
// keyring delete).
func (s *AutoStore) Set(key string, data []byte) error {
	if !s.usePrimary() {
		return s.fallback.Set(key, data)
	}
	err := s.primary.Set(key, data)
	switch {
	case err == nil:
		if err := s.fallback.Delete(key); err != nil {
			s.log.Debug("token cache: removing the file copy failed", "err", err)
		}
		return nil
	case errors.Is(err, ErrUnavailable):
		s.fallBack(err)
		return s.fallback.Set(key, data)
	case !errors.Is(err, ErrTooBig):
		return err
	}
	// Only this entry goes to a file; the keyring still works, and its older
	// entry for the key, if any, must go.
	s.log.Debug("token cache: entry too big for the keyring, writing a file", "key", key)
	if err := s.fallback.Set(key, data); err != nil {
		return err
	}
	if err := s.primary.Delete(key); err != nil {
		if errors.Is(err, ErrUnavailable) {
			// This process reads files from now on (and a hang is
			// remembered for the next ones), but the keyring entry is left.
			s.fallBack(err)
		}
		return fmt.Errorf("entry written to a file, but the older keyring entry that hides it could not be removed: %w", err)
	}
	return nil
}

// Delete implements [Store]: the entry goes from both stores, but a keyring
// known to hang is not asked (logout would wait its timeout out).
func (s *AutoStore) Delete(key string) error {
	var perr error
	if s.usePrimary() {
		perr = s.primary.Delete(key)
		if errors.Is(perr, ErrUnavailable) {
			s.fallBack(perr)
			perr = nil
		}
	}
	return errors.Join(perr, s.fallback.Delete(key))
}

func (s *AutoStore) fallBack(err error) {
	s.rememberHung(err)
	s.once.Do(func() {
		s.reason = err.Error()
		s.fellBack.Store(true)
		// Debug: on a machine without a keyring this happens on every call
		// and is expected; --verbose shows it.
		s.log.Debug("token cache: keyring unavailable, using files", "reason", s.reason, "store", s.fallback.Name())
	})
}
