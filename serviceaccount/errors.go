package serviceaccount

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Errors that [Error] matches by its status, for errors.Is.
var (
	// ErrNoRight is a 403: the token's service account lacks the right
	// (its role in the project lacks the permission) to do this.
	ErrNoRight = errors.New("the service account lacks the right")
	// ErrNotFound is a 404: no such service account or key.
	ErrNotFound = errors.New("not found")
)

// Error is a request of the key API that failed: no answer, or an answer
// that is not a success. Its message is sanitised (auth.Sanitize): it
// never holds a token or a secret.
type Error struct {
	// Op says what was asked: "creating a key of projects/P/serviceaccounts/S".
	Op string
	// Status is the answer's HTTP status; 0 when there was none.
	Status int
	// Message is what the answer said, sanitised.
	Message string
	// Err is why there was no answer, or it could not be read.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns why there was no answer.
func (e *Error) Unwrap() error { return e.Err }

// Is matches [ErrNoRight] to a 403 and [ErrNotFound] to a 404.
func (e *Error) Is(target error) bool {
	return target == ErrNoRight && e.Status == http.StatusForbidden ||
		target == ErrNotFound && e.Status == http.StatusNotFound
}

// Temporary reports whether asking again later may succeed: no answer, a
// 429, or a 5xx other than 501.
func (e *Error) Temporary() bool {
	return e.Status == 0 || e.Status == http.StatusTooManyRequests || e.Status >= 500 && e.Status != http.StatusNotImplemented
}

// Refused reports whether the server refused the request (a 4xx answer),
// and so surely did not act on it. Any other failure of a create (no
// answer, a 5xx, a success that cannot be read) may have created a key.
func (e *Error) Refused() bool { return e.Status >= 400 && e.Status < 500 }

// MayHaveCreated reports whether a create that failed with err (not nil)
// may have created a key all the same. Only DT's refusal, a 4xx answer
// ([Error.Refused]), surely created nothing. Anything else may have come
// after the request was sent: no answer (a transport failure, a
// deadline), a 5xx, a success that could not be read, or an error of
// another kind; so it is the safe answer, true, and the caller keeps what
// it needs to find the key later.
func MayHaveCreated(err error) bool {
	var e *Error
	return !errors.As(err, &e) || !e.Refused()
}
