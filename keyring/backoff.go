package keyring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// The shared back-off (bearer.Backoff): after a refresh fails for a
// transient reason, the Cache records when the next attempt may be made,
// so that every process of the user, not only the one that failed, waits
// for it: they serve the still-valid cached token meanwhile, or, with none,
// the failure at once.
//
// The record is kept in the same store as the entry, under the entry's key
// with backoffSuffix: private as the entry is (a 0600 file in the cache
// directory, a kernel key no other uid can see, a Secret Service item), and
// read only when the entry is not fresh, so a cached call's hot path reads
// nothing more. It is a key of its own, rather than a field of the entry,
// because it must outlive the entry's token: the kernel drops a key at the
// token's expiry, and after that, or with no token cached at all, the
// record is what lets later callers fail at once.

// backoffSuffix makes a back-off record's key from its entry's key.
const backoffSuffix = ".backoff"

// backoffVersion is the format version of a back-off record.
const backoffVersion = 1

// maxBackoffMessage bounds the failure a record repeats, in bytes.
const maxBackoffMessage = 1 << 10

// backoffRecord is a back-off as stored: versioned JSON.
type backoffRecord struct {
	Version int `json:"v"`
	// Endpoint, KeyID and Email say whose refreshes failed, as an entry
	// does: a record renamed onto another account's key is ignored.
	Endpoint string `json:"endpoint,omitempty"`
	KeyID    string `json:"key_id,omitempty"`
	Email    string `json:"email,omitempty"`
	// Failures, Failed and NotBefore are the bearer.Backoff.
	Failures  int       `json:"failures"`
	Failed    time.Time `json:"failed"`
	NotBefore time.Time `json:"not_before"`
	// Expiry is how long the record is worth keeping: the count of
	// failures goes on for bearer.BackoffCap after NotBefore. The kernel
	// keyring drops the key then (its timeout is read from "expiry").
	Expiry time.Time `json:"expiry"`
	// Message is the failure, as the caller that made the attempt was told
	// it, bounded: it names no secret, since upstreams' errors never do.
	Message string `json:"message"`
}

// backoff is the record's bearer.Backoff.
func (r backoffRecord) backoff() bearer.Backoff {
	return bearer.Backoff{Failures: r.Failures, Failed: r.Failed, NotBefore: r.NotBefore}
}

// newBackoffRecord records b, after the failure err, for acct.
func newBackoffRecord(acct Account, b bearer.Backoff, err error) backoffRecord {
	return backoffRecord{
		Version: backoffVersion, Endpoint: acct.Endpoint, KeyID: acct.KeyID, Email: acct.Email,
		Failures: b.Failures, Failed: b.Failed.UTC(), NotBefore: b.NotBefore.UTC(),
		Expiry:  b.NotBefore.Add(bearer.BackoffCap).UTC(),
		Message: cut(err.Error(), maxBackoffMessage),
	}
}

// decodeBackoff parses a stored record for acct; any record that is not
// one of this version for acct, with believable times on now's clock, is
// an error, and is ignored.
func decodeBackoff(data []byte, acct Account, now time.Time) (backoffRecord, error) {
	if len(data) > MaxEntrySize {
		return backoffRecord{}, fmt.Errorf("back-off record is larger than %d bytes", MaxEntrySize)
	}
	var r backoffRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return backoffRecord{}, errors.New("back-off record is not valid JSON")
	}
	switch {
	case r.Version != backoffVersion:
		return backoffRecord{}, fmt.Errorf("back-off record has version %d, want %d", r.Version, backoffVersion)
	case r.Endpoint != acct.Endpoint || r.KeyID != acct.KeyID || r.Email != acct.Email:
		return backoffRecord{}, errors.New("back-off record belongs to another account")
	case !r.backoff().Plausible(now):
		return backoffRecord{}, errors.New("back-off record is not believable on this clock: written in the future, or waiting longer than the back-off allows")
	}
	r.Message = cut(r.Message, maxBackoffMessage)
	return r, nil
}

// encode returns the stored form of r.
func (r backoffRecord) encode() []byte {
	b, _ := json.Marshal(r) // plain fields; times the clock gave
	return b
}

// BackoffError is what a [Cache] returns at once, without asking its
// upstream, while the shared back-off after a failed refresh lasts and no
// valid token is cached: the failure an earlier caller (perhaps in another
// process) met, and when the next attempt will be made. Temporary, like the
// failure it repeats; a forced refresh ([Cache.Refresh]) tries at once.
type BackoffError struct {
	// Message is the earlier failure.
	Message string
	// Failed is when it happened; NotBefore when the next attempt may be made.
	Failed, NotBefore time.Time
	// wait is NotBefore from when the error was made.
	wait time.Duration
}

func (e *BackoffError) Error() string {
	return fmt.Sprintf("%s (at %s; not tried again before %s)", e.Message,
		e.Failed.UTC().Format(time.RFC3339), e.NotBefore.UTC().Format(time.RFC3339))
}

// Temporary reports true: the failure repeated was transient.
func (e *BackoffError) Temporary() bool { return true }

// RetryAfter is how long, from when the error was made, the back-off lasts
// (see bearer.RetryAfter).
func (e *BackoffError) RetryAfter() time.Duration { return e.wait }

// cut cuts s to at most n bytes, at a rune boundary. Making it one
// printable line is for whoever prints it (the command prints every error
// through auth.OneLine).
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// heldOff answers a caller whose cached token is not fresh (cached, when
// haveCached) while the shared back-off holds: see [Cache.serveHeld]. held
// is false when no back-off holds, and the caller refreshes.
func (s *Cache) heldOff(ctx context.Context, cached Entry, haveCached bool) (tok *oauth2.Token, held bool, err error) {
	r, ok := s.readBackoff(ctx)
	if !ok {
		return nil, false, nil
	}
	return s.serveHeld(ctx, r, cached, haveCached)
}

// serveHeld answers a caller while the back-off r holds: the cached token
// while it has not expired, said once under --verbose (debug), else r's
// failure, at once. held is false when r's wait has ended.
func (s *Cache) serveHeld(ctx context.Context, r backoffRecord, cached Entry, haveCached bool) (tok *oauth2.Token, held bool, err error) {
	now := s.now()
	if !r.backoff().Holds(now) {
		return nil, false, nil
	}
	if haveCached && cached.Expiry.After(now) {
		if s.log.Enabled(ctx, slog.LevelDebug) && s.backoffLogged.CompareAndSwap(false, true) {
			s.log.DebugContext(ctx, "serving the cached token: refreshing is backing off after a failure", "store", s.store.Name(),
				"failures", r.Failures, "failed_at", r.Failed.UTC().Format(time.RFC3339), "next_attempt", r.NotBefore.UTC().Format(time.RFC3339Nano),
				"expires_at", cached.Expiry.UTC().Format(time.RFC3339), "error", r.Message)
		}
		return cached.Token(), true, nil
	}
	s.log.DebugContext(ctx, "no valid cached token, and refreshing is backing off after a failure: failing at once", "store", s.store.Name(),
		"failures", r.Failures, "next_attempt", r.NotBefore.UTC().Format(time.RFC3339Nano))
	return nil, true, &BackoffError{Message: r.Message, Failed: r.Failed, NotBefore: r.NotBefore, wait: r.NotBefore.Sub(now)}
}

// Backoff returns the shared back-off after a failed refresh while it
// holds, as the error a caller without a valid token is given meanwhile:
// the failure, when it happened and when the next attempt may be made; nil
// when none holds. It reads the record only, never refreshes: for a
// status report.
func (s *Cache) Backoff(ctx context.Context) *BackoffError {
	r, ok := s.readBackoff(ctx)
	now := s.now()
	if !ok || !r.backoff().Holds(now) {
		return nil
	}
	return &BackoffError{Message: r.Message, Failed: r.Failed, NotBefore: r.NotBefore, wait: r.NotBefore.Sub(now)}
}

// readBackoff returns the back-off recorded for the account, reporting
// false for none usable (missing, unreadable, foreign, or not believable
// on this clock: ignored, which costs at most one attempt).
func (s *Cache) readBackoff(ctx context.Context) (backoffRecord, bool) {
	data, err := s.store.Get(s.key + backoffSuffix)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			s.log.DebugContext(ctx, "back-off record unreadable; ignoring it", "store", s.store.Name(), "error", err)
		}
		return backoffRecord{}, false
	}
	r, err := decodeBackoff(data, s.account, s.now())
	if err != nil {
		s.log.DebugContext(ctx, "ignoring the back-off record", "store", s.store.Name(), "error", err)
		return backoffRecord{}, false
	}
	return r, true
}

// recordBackoff stores b, after the failure err, for every process. A
// failure to store it costs only attempts that need not have been made.
func (s *Cache) recordBackoff(ctx context.Context, b bearer.Backoff, err error) {
	s.log.DebugContext(ctx, "backing off after a failed refresh", "failures", b.Failures,
		"next_attempt", b.NotBefore.UTC().Format(time.RFC3339Nano))
	if werr := s.store.Set(s.key+backoffSuffix, newBackoffRecord(s.account, b, err).encode()); werr != nil {
		s.log.DebugContext(ctx, "recording the back-off failed", "store", s.store.Name(), "error", werr)
	}
}

// endBackoff removes the back-off record after a successful refresh.
func (s *Cache) endBackoff(ctx context.Context) {
	s.backoffLogged.Store(false)
	if err := s.store.Delete(s.key + backoffSuffix); err != nil {
		s.log.DebugContext(ctx, "removing the back-off record failed", "store", s.store.Name(), "error", err)
	}
}
