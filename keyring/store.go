// Package keyring caches access tokens between processes: in the OS keyring
// (the Secret Service on Linux, through github.com/zalando/go-keyring), in
// files, or not at all; and serialises refreshes across processes with a
// per-key lock file, so a crowd of invocations refreshes once.
package keyring

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"
)

// Service is the keyring service name every entry is stored under.
const Service = "dt-credential-helper"

// ErrNotFound is returned by [Store.Get] when there is no entry for a key.
var ErrNotFound = errors.New("no cached entry")

// ErrUnavailable is wrapped by stores that cannot be reached at all (no
// D-Bus session, no Secret Service, a locked collection, a call that did not
// answer in time); under the auto mode it makes the cache fall back to files.
var ErrUnavailable = errors.New("keyring unavailable")

// Store holds opaque entries by key. Implementations are safe for concurrent
// use within a process; across processes, writers hold the key's [Lock].
type Store interface {
	// Get returns the entry stored under key, or an error wrapping ErrNotFound.
	Get(key string) ([]byte, error)
	// Set stores data under key, replacing any entry atomically.
	Set(key string, data []byte) error
	// Delete removes the entry; deleting a missing entry is not an error.
	Delete(key string) error
	// Name says which backend this is ("keyring", "file", "none"), for status
	// and logs.
	Name() string
}

// Key is the cache key of a service account at a token endpoint: a hash, so
// nothing about the account is readable from the keyring or file names, and
// never derived from the secret.
func Key(endpoint, keyID, email string) string {
	h := sha256.New()
	// Length-prefixed, so no two triples collide by shifting separators.
	for _, s := range []string{endpoint, keyID, email} {
		fmt.Fprintf(h, "%d:%s;", len(s), s)
	}
	return "token-" + hex.EncodeToString(h.Sum(nil))[:32]
}

// entryVersion is the format version of [Entry]; entries of other versions
// are ignored and replaced.
const entryVersion = 1

// Entry is a cached token as stored: versioned JSON.
type Entry struct {
	Version     int       `json:"v"`
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	Expiry      time.Time `json:"expiry"`
	// Endpoint and KeyID say whose token this is, for status; never the secret.
	Endpoint string `json:"endpoint,omitempty"`
	KeyID    string `json:"key_id,omitempty"`
}

// NewEntry makes the entry for tok.
func NewEntry(tok *oauth2.Token, endpoint, keyID string) Entry {
	return Entry{Version: entryVersion, AccessToken: tok.AccessToken, TokenType: tok.TokenType, Expiry: tok.Expiry.UTC(), Endpoint: endpoint, KeyID: keyID}
}

// Encode returns the stored form of e.
func (e Entry) Encode() []byte {
	b, _ := json.Marshal(e) // cannot fail: plain strings and a time
	return b
}

// Token returns the token e holds.
func (e Entry) Token() *oauth2.Token {
	return &oauth2.Token{AccessToken: e.AccessToken, TokenType: e.TokenType, Expiry: e.Expiry}
}

// DecodeEntry parses a stored entry. A corrupt, truncated, foreign or other-
// version entry is an error (which never quotes the data); callers treat it
// as a miss and replace it.
func DecodeEntry(data []byte) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(data, &e); err != nil {
		return Entry{}, errors.New("cache entry is not valid JSON")
	}
	switch {
	case e.Version != entryVersion:
		return Entry{}, fmt.Errorf("cache entry has version %d, want %d", e.Version, entryVersion)
	case e.AccessToken == "":
		return Entry{}, errors.New("cache entry has no token")
	case e.Expiry.IsZero():
		return Entry{}, errors.New("cache entry has no expiry")
	}
	return e, nil
}
