package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/oauth2"
)

// ConfigError is a missing or invalid input to this package: credentials,
// a token endpoint, a credentials file or a secret that must change before
// a token can be had; asking again will not help.
type ConfigError struct {
	Msg string
	Err error
}

// newConfigError makes err a configuration error: its message is err's,
// and errors.Is and errors.As still find err and what err wraps. err must
// not be nil.
func newConfigError(err error) *ConfigError { return &ConfigError{Msg: err.Error(), Err: err} }

func (e *ConfigError) Error() string { return e.Msg }

// Unwrap returns the underlying error, if any.
func (e *ConfigError) Unwrap() error { return e.Err }

// Misconfigured reports true. It is the behaviour a caller reads to sort
// errors without knowing their types, as [Error.Temporary] is:
//
//	var m interface{ Misconfigured() bool }
//	if errors.As(err, &m) && m.Misconfigured() { /* the user's input must change */ }
func (e *ConfigError) Misconfigured() bool { return true }

// Kind classifies why a token request failed, for callers that branch on it
// (retry later, ask for new credentials, report a bug in the server).
type Kind int

const (
	// Transient failures may succeed if tried again later: connection errors,
	// timeouts, 429 and 5xx responses.
	Transient Kind = iota + 1
	// Rejected means the identity service refused the credentials (400
	// invalid_grant and the like, 401, 403): retrying will not help.
	Rejected
	// BadResponse means the service answered 200 with a body that is not a
	// usable token, or answered with an unexpected status.
	BadResponse
)

func (k Kind) String() string {
	switch k {
	case Transient:
		return "transient"
	case Rejected:
		return "rejected"
	case BadResponse:
		return "bad response"
	}
	return "unknown"
}

// Error is a failed token request. It wraps the *oauth2.RetrieveError of the
// last response, if there was one, so errors.As finds either; its Body holds
// only a bounded, sanitised excerpt, and its Response only the status and
// headers, with no Request that could replay the assertion and no Body.
type Error struct {
	Kind     Kind
	Endpoint string
	KeyID    string
	Attempts int
	// Retrieve is set when the service answered.
	Retrieve *oauth2.RetrieveError
	// Err is the transport or validation error, if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "token request to %s for key id %s failed", e.Endpoint, e.KeyID)
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	if r := e.Retrieve; r != nil && r.Response != nil {
		fmt.Fprintf(&b, ": HTTP %d", r.Response.StatusCode)
		if r.ErrorCode != "" {
			fmt.Fprintf(&b, " %s", r.ErrorCode)
			if r.ErrorDescription != "" {
				fmt.Fprintf(&b, " (%s)", r.ErrorDescription)
			}
		}
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if r := e.Retrieve; r != nil && r.ErrorCode == "" && len(r.Body) > 0 {
		fmt.Fprintf(&b, ": response %q", r.Body)
	}
	switch e.Kind {
	case Rejected:
		b.WriteString(": the credentials were rejected, check the key id, email and secret, and that this machine's clock is right")
	}
	return b.String()
}

// Unwrap exposes both the RetrieveError and the underlying error.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Retrieve != nil {
		errs = append(errs, e.Retrieve)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Temporary reports whether trying again later may succeed.
func (e *Error) Temporary() bool { return e.Kind == Transient }

// RetryAfter is how long the service asked not to be asked again: the
// Retry-After of a 429 or 503 answer (seconds, or an HTTP date from now),
// capped at 30s as the retries cap it; zero when it asked nothing. A cache
// that backs off after the failure waits at least this long (see
// bearer.RetryAfter).
func (e *Error) RetryAfter() time.Duration {
	if e.Retrieve == nil {
		return 0
	}
	d, _ := serverWait(e.Retrieve.Response)
	return d
}

// IsTransient reports whether err is a token request failure that may succeed
// if tried again later.
func IsTransient(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == Transient
}

// IsRejected reports whether the identity service refused the credentials.
func IsRejected(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == Rejected
}

// maxExcerpt bounds the response excerpt kept in errors.
const maxExcerpt = 200

// sensitiveFields are JSON members whose values are never shown.
var sensitiveFields = []string{"access_token", "refresh_token", "id_token", "assertion", "secret", "client_secret"}

// redactors are compiled on the first error, not at every start: the
// cached token call never needs them, and compiling them costs it time.
var redactors = sync.OnceValue(func() (r struct{ jwt, opaque, json, form *regexp.Regexp }) {
	// Anything shaped like a JWT, which may be an assertion.
	r.jwt = regexp.MustCompile(`[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)
	// A long run of base64url characters. One that mixes upper and lower
	// case is taken for an opaque token (a server may echo the access token
	// in an error) and removed; hex ids and UUIDs, single-case, are kept for
	// support requests.
	r.opaque = regexp.MustCompile(`[A-Za-z0-9_-]{32,}`)
	// The sensitive fields' values where the body is not a JSON object that
	// can be rewritten (malformed or cut-off JSON, a nested member, a
	// form-encoded body).
	r.json = regexp.MustCompile(`(?i)("(?:` + strings.Join(sensitiveFields, "|") + `)"\s*:\s*)"(?:[^"\\]|\\.)*"?`)
	r.form = regexp.MustCompile(`(?i)\b((?:` + strings.Join(sensitiveFields, "|") + `)=)[^&\s]*`)
	return r
})

// Sanitize makes a short (at most 200 bytes), printable, one-line excerpt of
// a server's answer, with tokens, JWTs, secret-named JSON and form fields,
// and the given secrets removed: what an error may repeat of text a server
// chose. Another upstream (Vault) uses it for its server's answers too.
func Sanitize(body []byte, secrets ...string) string { return sanitize(body, secrets...) }

// sanitize is [Sanitize].
func sanitize(body []byte, secrets ...string) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) == nil {
		changed := false
		for k := range obj {
			// Case-insensitively, as encoding/json matched the member to
			// the token response's field: {"ACCess_token": …} is read as
			// the access token too.
			if slices.ContainsFunc(sensitiveFields, func(f string) bool { return strings.EqualFold(k, f) }) {
				obj[k] = json.RawMessage(`"[redacted]"`)
				changed = true
			}
		}
		if changed {
			if b, err := json.Marshal(obj); err == nil {
				body = b
			}
		}
	}
	re := redactors()
	s := string(body)
	s = re.json.ReplaceAllString(s, `${1}"[redacted]"`)
	s = re.form.ReplaceAllString(s, `${1}[redacted]`)
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	s = re.jwt.ReplaceAllString(s, "[redacted]")
	s = re.opaque.ReplaceAllStringFunc(s, func(m string) string {
		if strings.ToLower(m) != m && strings.ToUpper(m) != m {
			return "[redacted]"
		}
		return m
	})
	return truncate(OneLine(s), maxExcerpt)
}

// OneLine makes s one printable line: every rune a terminal could act on
// becomes a space (C0 and C1 controls such as ESC, BEL, CR and newline,
// DEL, format characters such as the bidi overrides, any other rune that
// is not printable, and bytes that are not UTF-8), then each run of white
// space one space, with none at either end. It is the rule [Sanitize]
// applies to a server's answer, for every line a program writes that may
// carry text from outside: an error quoting a certificate's names or a
// proxy's refusal, a log line, the message a plugin host is given.
func OneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// truncate cuts s to at most n bytes, at a rune boundary, and marks the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
