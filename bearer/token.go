package bearer

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// MaxSize is the longest access token accepted, in bytes. DT's tokens are
// about 1 KiB; the limit leaves room for much larger ones while a cache
// entry holding one still fits in what a cache store reads back
// (keyring.MaxEntrySize, 64 KiB, which keyring checks at compile time).
const MaxSize = 32 << 10

// MaxLifetime caps a token's lifetime: a longer one granted is cut to
// this, so that neither a server nor a cache entry can make a token be
// believed for longer than a day.
const MaxLifetime = 24 * time.Hour

// MaxClockStep is how far the clock may have been set back since a token
// was cached before its cache entry is distrusted: an entry obtained more
// than this in the future, or expiring more than this beyond its lifetime
// from now, is a miss. NTP corrects small offsets by slewing, so a step
// this large is a real correction; and with [DefaultRefreshBuffer] (also a
// minute), a token cached by a clock ahead by up to this much is still
// never served past its real expiry.
const MaxClockStep = time.Minute

// Check reports whether tok can be handed out as a bearer token: 1 to
// [MaxSize] bytes of RFC 6750 b64token, 1*( ALPHA / DIGIT / "-" / "." /
// "_" / "~" / "+" / "/" ) *"=". Anything else could break, or inject into,
// the Authorization header and the git and docker protocols the token is
// printed into. The error, worded to follow "the token", never quotes it.
func Check(tok string) error {
	switch {
	case tok == "":
		return errors.New("is empty")
	case len(tok) > MaxSize:
		return fmt.Errorf("is %d bytes long, more than the %d allowed", len(tok), MaxSize)
	}
	body := strings.TrimRight(tok, "=")
	if body == "" {
		return errors.New("is only padding (=)")
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return fmt.Errorf("has a character that a bearer token may not have (RFC 6750 b64token) at byte %d", i+1)
		}
	}
	return nil
}

// IsBearer reports whether typ, a token_type as a server or a cache entry
// gives it, names a bearer token: "Bearer" in any case, or nothing.
func IsBearer(typ string) bool { return typ == "" || strings.EqualFold(typ, "bearer") }
