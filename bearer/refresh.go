package bearer

import "time"

// DefaultRefreshBuffer is the refresh buffer a zero configured buffer
// means: a token with less than a minute left is refreshed, as DT's own
// example does.
const DefaultRefreshBuffer = time.Minute

// NoBuffer, configured as a refresh buffer, means none: a token is served
// until it expires. Any negative value means the same.
const NoBuffer time.Duration = -1

// Buffer is the refresh buffer applied to a token granted for lifetime when
// configured is the configured buffer (zero: [DefaultRefreshBuffer];
// negative: none): that buffer, but at most half the lifetime. A buffer as
// long as the token's life would make every call refresh, and a crowd of
// callers refresh once each; half the life still refreshes well before
// expiry. A lifetime of zero or less is unknown and cuts nothing.
func Buffer(configured, lifetime time.Duration) time.Duration {
	b := configured
	switch {
	case b == 0:
		b = DefaultRefreshBuffer
	case b < 0:
		return 0
	}
	if half := lifetime / 2; lifetime > 0 && b > half {
		return half
	}
	return b
}

// Fresh reports whether a token expiring at expiry, granted for lifetime,
// may still be handed out at now under the configured buffer: it has more
// than [Buffer] left. Every reuse of a token in this module asks this, so
// that all of them refresh at the same moment.
func Fresh(expiry time.Time, lifetime, configured time.Duration, now time.Time) bool {
	return expiry.Sub(now) > Buffer(configured, lifetime)
}

// DueAt is when such a token stops being [Fresh]: when a watcher that
// keeps a token current fetches its successor.
func DueAt(expiry time.Time, lifetime, configured time.Duration) time.Time {
	return expiry.Add(-Buffer(configured, lifetime))
}
