package serviceaccount

import "time"

// CreateWindow is when a create whose outcome is not known may have made
// a key, by the creation time DT gives the key: from just before it was
// sent until DT can no longer act on it. A key of the service account
// created outside it is not that create's: another machine's, say, made
// later with a create of its own.
type CreateWindow struct {
	From  time.Time `json:"from"`
	Until time.Time `json:"until"`
}

// CreateWindowOf is the window of a create sent from now on, given up
// after timeout: it ends by now+timeout, and DT may act on a request up to
// a timeout after the client gave up on it (and stamps its key with its
// own clock, which may run behind ours), so the window closes at
// now+2*timeout. It opens at now to the second below, as DT may give
// times to the second or the microsecond. A clock of ours ahead of DT's
// can put a key the create made just before From: such a key goes
// unreported, which costs a key left at DT, never advice to delete
// another machine's.
func CreateWindowOf(now time.Time, timeout time.Duration) CreateWindow {
	return CreateWindow{From: now.Truncate(time.Second), Until: now.Add(2 * timeout)}
}

// Holds reports whether key k was created within w, and so may be its
// create's. A key whose creation time DT did not give is not; the zero
// window (recorded before windows were) holds every key that has one.
func (w CreateWindow) Holds(k Key) bool {
	if w == (CreateWindow{}) {
		return !k.CreateTime.IsZero()
	}
	return !k.CreateTime.IsZero() && !k.CreateTime.Before(w.From) && !k.CreateTime.After(w.Until)
}
