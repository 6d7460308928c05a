package keyring

// The rules keyring restates from auth (see fresh and checkToken), for the
// external tests that hold them equal to auth's.
const (
	MaxTokenSize = maxTokenSize
	MaxLifetime  = maxLifetime
)

var (
	CheckToken  = checkToken
	Fresh       = fresh
	ClampBuffer = clampBuffer
	Transient   = transient
)
