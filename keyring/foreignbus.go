package keyring

import "errors"

// ErrForeignBus is matched (errors.Is) by the keyring store's errors when
// the session bus the environment names was refused because it is not
// this user's: its socket belongs to another uid, or lies where another
// user could swap it, or another uid serves it. Such an error wraps
// [ErrNoSession] as every refused bus's does, so the store behaves as with
// no bus at all; this says, for a caller that explains rather than
// serves (the doctor command), that the environment points at someone
// else's bus, which a missing or stale bus address does not. Only Linux's
// store checks the bus, so only there is it ever matched.
var ErrForeignBus = errors.New("the session bus is another user's")

// foreignBus marks a refusal of the session bus as one for whom it
// belongs to: errors.Is then matches [ErrForeignBus] too, and the error's
// text and chain are the refusal's own.
type foreignBus struct{ error }

func (f foreignBus) Unwrap() error { return f.error }

func (f foreignBus) Is(target error) bool { return target == ErrForeignBus }
