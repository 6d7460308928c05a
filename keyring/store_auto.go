package keyring

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// AutoStore is the auto mode: a primary store (the keyring) and a fallback
// (files). On Linux two are stacked: the kernel keyring over an AutoStore of
// the Secret Service over files; what is said here of the keyring and the
// files holds for each pair. A primary call that fails with
// [ErrUnreachable] moves the store
// to its fallback for five minutes (hungMemory): a keyring that hung or was
// missing is not asked again meanwhile, so one call pays for it rather than
// every one. After that the keyring is tried again, so a long-running
// process (the plugin) comes back to the cache the CLI processes use.
//
// Entries can be in the fallback while the primary works (one too big for
// the keyring, or one written while the keyring was unavailable), so a
// primary miss is looked up in the fallback too: a file read, cheap next to
// the refresh a miss leads to. A write while the keyring is in use removes
// the key from the store it did not go to, so a stale copy never hides or
// outlives the current entry, and Delete removes both, so logout leaves
// nothing behind.
type AutoStore struct {
	primary, fallback Store
	log               *slog.Logger
	now               func() time.Time
	// hungMarker, when set, is a file whose recent modification time says a
	// keyring call hung in some process; see checkHung.
	hungMarker string
	// promote says an entry found only in the fallback is copied into the
	// primary, so later reads are served by the primary alone: for a
	// primary whose writes are cheap and cannot hang (the kernel keyring).
	promote bool

	mu sync.Mutex
	// until is when the keyring is asked again; the fallback is in use
	// before it.
	until  time.Time
	reason string // why the store fell back, while it uses the fallback
}

var _ Store = (*AutoStore)(nil)

// NewAutoStore returns the auto store over primary and fallback; log may be
// nil.
func NewAutoStore(primary, fallback Store, log *slog.Logger) *AutoStore {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &AutoStore{primary: primary, fallback: fallback, log: log, now: time.Now}
}

// FallbackReason says why the store uses its fallback, or "" while it uses
// the primary; [AutoStore.Name] includes it.
func (s *AutoStore) FallbackReason() string {
	r, _ := s.fallenBack()
	return r
}

// Name implements [Store]: the backend in use, with the reason for a
// fallback, e.g. "file (keyring unavailable: no D-Bus session bus ...)".
func (s *AutoStore) Name() string {
	if r, ok := s.fallenBack(); ok {
		return withReason(s.fallback.Name(), r)
	}
	return s.primary.Name()
}

// withReason is a store's name with the reason the store above it fell
// back to it: "file (reason)", or for a fallback that fell back itself,
// one list of reasons, "file (kernel's reason; keyring's reason)".
func withReason(name, reason string) string {
	if base, why, nested := strings.Cut(name, " ("); nested {
		return fmt.Sprintf("%s (%s; %s", base, reason, why)
	}
	return fmt.Sprintf("%s (%s)", name, reason)
}

// readFrom names the stores a Get of s reads on a miss, in order, with
// the reason for each fallback in use: "kernel, then file (keyring
// unavailable: ...)". [Cache] says it once, on a miss, next to the store
// the new token will be written to, the base of s's Name.
func readFrom(s Store) string {
	a, ok := s.(*AutoStore)
	if !ok {
		return s.Name()
	}
	if r, ok := a.fallenBack(); ok {
		return withReason(readFrom(a.fallback), r)
	}
	return readFrom(a.primary) + ", then " + readFrom(a.fallback)
}

// hungMarkerName is the file in the cache directory that remembers a hung
// keyring across processes.
const hungMarkerName = "keyring-unresponsive"

// hungMemory is how long a keyring that failed is not asked again: by any
// process when it hung (see hungMarkerName), by the process that found it
// failing otherwise. A hang costs the whole keyring timeout; without this
// every kubectl or git call would pay it while the keyring stays hung (a
// Secret Service waiting on an unlock prompt nobody sees). An unreachable
// keyring fails fast and is not remembered across processes.
const hungMemory = 5 * time.Minute

// checkHung moves the store to its fallback, until that memory runs out,
// when another process found the keyring hung less than hungMemory ago; it
// says whether it did. One stat on the hot path.
func (s *AutoStore) checkHung() bool {
	if s.hungMarker == "" {
		return false
	}
	fi, err := os.Stat(s.hungMarker)
	if err != nil {
		return false
	}
	since := s.now().Sub(fi.ModTime())
	if since < 0 || since >= hungMemory {
		return false
	}
	reason := fmt.Errorf("%w: it did not answer %v ago; asking it again after %v", ErrUnreachable, since.Truncate(time.Second), hungMemory)
	s.fallBackUntil(reason.Error(), fi.ModTime().Add(hungMemory))
	return true
}

// rememberHung records that the keyring hung, for the processes after this.
func (s *AutoStore) rememberHung(err error) {
	if s.hungMarker == "" || !errors.Is(err, errNoAnswer) {
		return
	}
	// The content is only for a curious reader; the modification time the
	// write sets is what counts.
	if werr := privatefile.Write(s.hungMarker, []byte(err.Error()+"\n")); werr != nil {
		s.log.Debug("token cache: remembering the hung keyring failed", "err", werr)
	}
}

// usePrimary says whether to ask the keyring: not while the store has fallen
// back, nor while another process's hung marker is fresh.
func (s *AutoStore) usePrimary() bool {
	if _, ok := s.fallenBack(); ok {
		return false
	}
	return !s.checkHung()
}

// Get implements [Store]. The keyring is read first. While the keyring is
// in use, Set leaves an entry in one of the two stores only, so whichever
// has it holds the current one. Writes made while the store has fallen back
// go to the file only and leave any older keyring entry for the key in
// place; once the keyring is asked again, that entry is read first: an older
// token, served while it is still fresh, else refreshed, and the refresh's
// Set removes the file copy.
func (s *AutoStore) Get(key string) ([]byte, error) {
	if s.usePrimary() {
		data, err := s.primary.Get(key)
		switch {
		case err == nil:
			return data, nil
		case errors.Is(err, ErrUnreachable):
			s.fallBack(err)
		case !errors.Is(err, ErrNotFound):
			return nil, err
		case s.promote:
			// An entry from a fallback period, or one that outlived the
			// kernel's keys (a reboot): without the copy every call would
			// pay a primary miss and a fallback read until the next
			// refresh. The fallback's copy stays; the refresh's Set
			// removes it.
			data, err := s.fallback.Get(key)
			if err == nil {
				if perr := s.primary.Set(key, data); perr != nil {
					s.log.Debug("copying the cached entry into the "+s.primary.Name()+" store failed", "error", perr)
				}
			}
			return data, err
		}
	}
	return s.fallback.Get(key)
}

// Set implements [Store]. While the keyring is in use the entry ends up in
// one store only: a copy left in the other would be served in its place
// later (a keyring entry hides a file entry, since the keyring is read
// first; a file copy would outlive a keyring delete). While the store has
// fallen back the entry goes to a file and the keyring is not touched, so an
// older keyring entry for the key stays (see Get).
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
	case errors.Is(err, ErrUnreachable):
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
		if errors.Is(err, ErrUnreachable) {
			// This process reads files for a while (and a hang is
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
		if errors.Is(perr, ErrUnreachable) {
			s.fallBack(perr)
			perr = nil
		}
	}
	return errors.Join(perr, s.fallback.Delete(key))
}

// fallBack moves the store to its fallback for hungMemory after the
// primary failed with err.
func (s *AutoStore) fallBack(err error) {
	s.rememberHung(err)
	s.fallBackUntil(err.Error(), s.now().Add(hungMemory))
}

// fallBackUntil moves the store to its fallback until the time given, unless
// it has fallen back already (concurrent calls that failed together).
func (s *AutoStore) fallBackUntil(reason string, until time.Time) {
	s.mu.Lock()
	if s.now().Before(s.until) {
		s.mu.Unlock()
		return
	}
	s.until, s.reason = until, reason
	s.mu.Unlock()
	// Not logged here: the reason is part of the store's name while it
	// lasts, which the cache's lines say, once each (a miss says which
	// stores were read, readFrom, and which is written).
}

// fallenBack returns the reason the store uses its fallback, and whether it
// does.
func (s *AutoStore) fallenBack() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.now().Before(s.until) {
		return "", false
	}
	return s.reason, true
}
