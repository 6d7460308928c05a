package keyring

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// Key is the cache key of a service account at a token endpoint: a hash, so
// nothing about the account is readable from the keyring or file names, and
// never derived from the secret.
func Key(endpoint, keyID, email string) string {
	// Length-prefixed, so no two triples collide by shifting separators.
	// Built by hand rather than with fmt: every cached call computes it.
	sum := sha256.Sum256(lengthPrefixed(endpoint, keyID, email))
	return "token-" + hex.EncodeToString(sum[:16])
}

// lengthPrefixed encodes parts as "<len>:<part>;" each, so that no two
// lists of parts encode alike.
func lengthPrefixed(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += len(p) + 22 // the length's digits, ':' and ';'
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = strconv.AppendInt(b, int64(len(p)), 10)
		b = append(append(append(b, ':'), p...), ';')
	}
	return b
}

// entryVersion is the format version of [Entry]; entries of other versions
// are ignored and replaced. Version 2 added the email, when the token was
// obtained and its lifetime; version 3 the identity that obtained it, so
// that an entry of version 2, which names none, is never served to a
// caller that must prove one.
const entryVersion = 3

// maxAccountField bounds each of an entry's endpoint, key id and email, in
// bytes. With bearer.MaxSize it bounds the encoded entry (see
// maxEncodedEntry): a token the exchange accepts always fits in an entry the
// stores read back.
const maxAccountField = 1 << 10

// maxEncodedEntry is the largest encoded entry: the token (b64token
// characters, which JSON does not escape), the three account fields (up to 6
// bytes each for a byte JSON escapes as \u00XX), and the member names, times,
// numbers and the identity digest, well under 512 bytes.
const maxEncodedEntry = bearer.MaxSize + 3*6*maxAccountField + 512

// An entry holding the longest token is readable back: this fails to compile
// if maxEncodedEntry exceeds MaxEntrySize.
var _ [MaxEntrySize - maxEncodedEntry]struct{}

// Account is the service account (and token endpoint) a token belongs to,
// and the identity that obtained it or asks for it. An entry records both
// and is served only to the same account (the cache key is a hash of it,
// but a file can be renamed) presenting the same identity.
type Account struct {
	Endpoint, KeyID, Email string
	// Identity is who obtained the token (recorded in the entry) or asks
	// for it (checked against the entry's); the zero Identity records none
	// and is served any entry of the account. Make it with
	// NewIdentity(a.Key(), proof...).
	Identity Identity
}

// Key is a's key in a store: [Key] of its endpoint, key id and email.
func (a Account) Key() string { return Key(a.Endpoint, a.KeyID, a.Email) }

// Identity is who asks a [Cache] for tokens, by what it proves itself with
// to the upstream: the DT secret of an account given in the environment, a
// Vault token, a JWT's issuer and subject with the role it logs in as. An
// entry records a one-way digest of the identity that obtained its token
// and is served only to a caller presenting the same, so that a secret or
// Vault token the upstream would refuse is not handed the token another
// one obtained. Working it out must cost the hot path no store, keyring or
// network round trip: see [NewIdentity].
//
// The zero Identity is any identity: the account alone decides. It is for a
// caller entitled to every token of the account, whoever obtained it; one
// whose proof lives in a store the hot path must not read (the command's
// profiles keep their secrets in the Secret Service) proves something
// cheaper that changes with it instead (a profile's random cache nonce).
type Identity struct {
	digest string // hex HMAC-SHA256 (see NewIdentity); "" when any or none
	none   bool   // the caller proves no identity
}

// identityLabel keys the identity digest, with the cache key, so that it
// is worth nothing outside the cache: not the HMAC or hash of the same
// secret anywhere else, nor the digest of the same proof for another entry.
const identityLabel = "dt-credential-helper cache identity v1\x00"

// identityDigestLen is the length of a recorded identity digest: hex of
// SHA-256.
const identityDigestLen = 2 * sha256.Size

// NewIdentity returns the identity proof establishes when asking for the
// tokens cached under key. Only a digest is kept: HMAC-SHA256 keyed with a
// label and key, of the proof's parts, each length-prefixed so that no two
// lists collide by shifting a separator. It is one-way (the DT secret and
// the Vault token cannot be got back from an entry), and cheap: a cached
// call pays a microsecond for it.
func NewIdentity(key string, proof ...string) Identity {
	mac := hmac.New(sha256.New, []byte(identityLabel+key))
	mac.Write(lengthPrefixed(proof...))
	var sum [sha256.Size]byte
	return Identity{digest: hex.EncodeToString(mac.Sum(sum[:0]))}
}

// NoIdentity is a caller that proves no identity (no Vault token, a JWT
// file it cannot read): it is served no entry, and a token it obtains
// anyway (the file appeared meanwhile) is not cached, since nothing says
// whose it is.
func NoIdentity() Identity { return Identity{none: true} }

// None reports whether id proves no identity (see [NoIdentity]).
func (id Identity) None() bool { return id.none }

// admits reports whether an entry recording digest may be served to id.
func (id Identity) admits(digest string) bool {
	switch {
	case id.none:
		return false
	case id.digest == "":
		return true
	}
	// Not a secret to compare in constant time: the entry holds it, and
	// whoever can time this could read the entry.
	return id.digest == digest
}

// ErrOtherIdentity says a cache entry is not served because the caller does
// not present the identity that obtained it (another DT secret or Vault
// token, another JWT subject), or presents none.
var ErrOtherIdentity = errors.New("cache entry was obtained by another identity (another secret, Vault token or JWT subject)")

// Entry is a cached token as stored: versioned JSON.
type Entry struct {
	Version     int       `json:"v"`
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	Expiry      time.Time `json:"expiry"`
	// Obtained is when the token was received, Lifetime how long it had to
	// live then, in whole seconds (rounded up), at most a day. Expiry is
	// never after Obtained + Lifetime. They let a reader tell an expiry it
	// can believe from one written by a clock that was far ahead, and cut
	// the refresh buffer for short-lived tokens.
	Obtained time.Time `json:"obtained"`
	Lifetime int64     `json:"lifetime"`
	// Endpoint, KeyID and Email say whose token this is; never the secret.
	Endpoint string `json:"endpoint,omitempty"`
	KeyID    string `json:"key_id,omitempty"`
	Email    string `json:"email,omitempty"`
	// Identity is the digest of the identity that obtained the token (see
	// [Identity]), in hex; empty when the zero Identity obtained it.
	Identity string `json:"identity,omitempty"`
}

// NewEntry makes the entry for tok, obtained by acct (and its identity) at
// obtained (now, when it is cached right after the exchange). A token said
// to live longer than bearer.MaxLifetime (a day) from obtained is recorded
// as expiring then.
func NewEntry(tok *oauth2.Token, acct Account, obtained time.Time) Entry {
	obtained = obtained.UTC()
	expiry := tok.Expiry.UTC()
	life := expiry.Sub(obtained)
	if life > bearer.MaxLifetime {
		life, expiry = bearer.MaxLifetime, obtained.Add(bearer.MaxLifetime)
	}
	seconds := int64(life / time.Second)
	if life%time.Second > 0 {
		seconds++
	}
	return Entry{
		Version: entryVersion, AccessToken: tok.AccessToken, TokenType: tok.TokenType, Expiry: expiry,
		Obtained: obtained, Lifetime: seconds,
		Endpoint: acct.Endpoint, KeyID: acct.KeyID, Email: acct.Email, Identity: acct.Identity.digest,
	}
}

// Encode returns the stored form of e.
func (e Entry) Encode() []byte {
	b, _ := json.Marshal(e) // fails only for a year beyond 9999, which Check refuses
	return b
}

// Token returns the token e holds. Its ExpiresIn is the lifetime it was
// granted (Lifetime), as the exchange's tokens carry it, so that whoever
// is handed the token can tell when it is due (bearer.Fresh) as the cache
// does.
func (e Entry) Token() *oauth2.Token {
	return &oauth2.Token{AccessToken: e.AccessToken, TokenType: e.TokenType, Expiry: e.Expiry, ExpiresIn: e.Lifetime}
}

// LifetimeDuration is e's granted lifetime.
func (e Entry) LifetimeDuration() time.Duration { return time.Duration(e.Lifetime) * time.Second }

// DecodeEntry parses a stored entry and checks it (see [Entry.Check]). A
// corrupt, truncated, foreign, oversized or other-version entry is an error
// (which never quotes the data); callers treat it as a miss and replace it.
func DecodeEntry(data []byte) (Entry, error) {
	if len(data) > MaxEntrySize {
		return Entry{}, fmt.Errorf("cache entry is larger than %d bytes", MaxEntrySize)
	}
	var e Entry
	if err := json.Unmarshal(data, &e); err != nil {
		return Entry{}, errors.New("cache entry is not valid JSON")
	}
	if err := e.Check(); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// Check reports whether e is an entry a cache may hold: of this version,
// with a token the exchange would accept (a bearer token of at most 32 KiB),
// a lifetime of at most a day that its expiry keeps within, and account
// fields short enough that its encoding stays under [MaxEntrySize]. A [Cache]
// checks an entry before writing it, so every entry written is one that
// reads back.
func (e Entry) Check() error {
	switch {
	case e.Version != entryVersion:
		return fmt.Errorf("cache entry has version %d, want %d", e.Version, entryVersion)
	case e.AccessToken == "":
		return errors.New("cache entry has no token")
	case !bearer.IsBearer(e.TokenType):
		return errors.New("cache entry holds a token that is not a bearer token")
	case e.Expiry.IsZero():
		return errors.New("cache entry has no expiry")
	case e.Obtained.IsZero():
		return errors.New("cache entry does not say when its token was obtained")
	case !encodable(e.Expiry) || !encodable(e.Obtained):
		return errors.New("cache entry has a time outside the years 1 to 9999")
	case e.Lifetime <= 0 || e.Lifetime > int64(bearer.MaxLifetime/time.Second):
		return fmt.Errorf("cache entry has a lifetime of %d seconds, not 1 to %d", e.Lifetime, int64(bearer.MaxLifetime/time.Second))
	case e.Expiry.After(e.Obtained.Add(e.LifetimeDuration())):
		return errors.New("cache entry expires later than its lifetime allows")
	case len(e.Endpoint) > maxAccountField || len(e.KeyID) > maxAccountField || len(e.Email) > maxAccountField:
		return fmt.Errorf("cache entry has an endpoint, key id or email longer than %d bytes", maxAccountField)
	case e.Identity != "" && !isDigest(e.Identity):
		return errors.New("cache entry has an identity that is not a digest")
	}
	if err := bearer.Check(e.AccessToken); err != nil {
		return fmt.Errorf("the token in the cache entry %w", err)
	}
	return nil
}

// isDigest reports whether s is an identity digest as [NewIdentity] writes
// it: lowercase hex of SHA-256.
func isDigest(s string) bool {
	if len(s) != identityDigestLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// encodable reports whether t can be written as JSON (RFC 3339).
func encodable(t time.Time) bool {
	y := t.Year()
	return y >= 1 && y <= 9999
}

// CheckFor reports whether e may be served to acct at now: it must be
// acct's entry, obtained by the identity acct presents (the error then
// wraps [ErrOtherIdentity]), and its times must be believable on now's
// clock. An entry obtained more than bearer.MaxClockStep in the future, or
// expiring more than that beyond its lifetime from now, was written by a
// clock that has since been set back (or by someone else): its expiry
// means nothing.
func (e Entry) CheckFor(acct Account, now time.Time) error {
	switch {
	case e.Endpoint != acct.Endpoint || e.KeyID != acct.KeyID || e.Email != acct.Email:
		return errors.New("cache entry belongs to another account")
	case acct.Identity.none:
		return fmt.Errorf("%w: this caller proves none (no Vault token, or a JWT it cannot read)", ErrOtherIdentity)
	case !acct.Identity.admits(e.Identity):
		return ErrOtherIdentity
	case e.Obtained.Sub(now) > bearer.MaxClockStep:
		return fmt.Errorf("cache entry was obtained %v in the future: the clock was ahead when it was written", e.Obtained.Sub(now).Round(time.Second))
	case e.Expiry.Sub(now) > e.LifetimeDuration()+bearer.MaxClockStep:
		return errors.New("cache entry expires further ahead than its lifetime allows: the clock was ahead when it was written")
	}
	return nil
}
