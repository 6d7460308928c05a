package vaulttoken

// Kind classifies a failure, for callers that branch on it (retry later,
// tell the operator, fix the configuration).
type Kind int

const (
	// Transient failures may succeed later: Vault unreachable, sealed,
	// answering 5xx or 429, or the DT service behind it down.
	Transient Kind = iota + 1
	// Denied means Vault refused this identity the path (HTTP 403).
	Denied
	// Rejected means Vault or the engine refused the request for good: a
	// DT account DT rejects, a JWT login the role does not accept.
	Rejected
	// NotFound means nothing is at the path.
	NotFound
	// BadResponse means the path answered with something that is not a
	// token, or with more than vaultenv.MaxResponseBody.
	BadResponse
	// Misconfigured means the Source's configuration or environment is wrong: no
	// path, no Vault token, an unreadable JWT file, or an address, proxy,
	// listener or ~/.vault-token that package vaultenv's rules (or
	// privatefile's) refuse, in which case nothing was sent.
	Misconfigured
)

// Error is a failure to get a token from Vault. Its message names the path
// and the Vault address, and never a Vault token, a JWT or an access token.
type Error struct {
	Kind Kind
	// Path is the token path; Addr the Vault address.
	Path, Addr string
	// Status is Vault's HTTP status, 0 when Vault did not answer.
	Status int
	Msg    string
	Err    error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the underlying error: the transport's when Vault did not
// answer; none when it did, whose raw text may echo the request.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether trying again later may succeed; the keyring
// cache serves a token it still holds on such a failure.
func (e *Error) Temporary() bool { return e.Kind == Transient }

// Misconfigured reports whether the Source's configuration or environment
// is wrong (Kind Misconfigured): the behaviour a caller reads to sort errors
// without knowing their types, as it reads Temporary.
func (e *Error) Misconfigured() bool { return e.Kind == Misconfigured }
