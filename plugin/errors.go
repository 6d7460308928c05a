package plugin

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Errors a host branches on; the errors TokenProvider methods return match
// them with errors.Is. Context errors match context.Canceled and
// context.DeadlineExceeded the same way.
var (
	// ErrRejected: the identity service refused the credentials; retrying
	// will not help (gRPC Unauthenticated).
	ErrRejected = errors.New("credentials rejected")
	// ErrUnavailable: a failure that may pass if tried again later
	// (gRPC Unavailable), including a plugin process that went away.
	ErrUnavailable = errors.New("token provider unavailable")
	// ErrUnknownProfile: the profile asked for is not configured in the
	// plugin process (gRPC InvalidArgument).
	ErrUnknownProfile = errors.New("unknown profile")
	// ErrConfig: the plugin process lacks configuration, such as a key id or
	// secret (gRPC FailedPrecondition).
	ErrConfig = errors.New("token provider not configured")
	// ErrExited: the plugin process has exited; launch it again.
	ErrExited = errors.New("token provider plugin process exited")
)

// Error is a failure reported over gRPC, with the plugin's message (which
// never holds a secret or token). It keeps its code for status.Code.
type Error struct {
	// Code is the gRPC code the plugin chose (see the sentinels).
	Code codes.Code
	// Message is the plugin's error text.
	Message string
}

func (e *Error) Error() string { return "token provider plugin: " + e.Message }

// GRPCStatus lets status.Code and status.FromError see the original code.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

// Is maps the gRPC code to the sentinel errors and context errors.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrRejected:
		return e.Code == codes.Unauthenticated
	case ErrUnavailable:
		return e.Code == codes.Unavailable
	case ErrUnknownProfile:
		return e.Code == codes.InvalidArgument
	case ErrConfig:
		return e.Code == codes.FailedPrecondition
	case context.Canceled:
		return e.Code == codes.Canceled
	case context.DeadlineExceeded:
		return e.Code == codes.DeadlineExceeded
	}
	return false
}

// Classifier says which of the sentinels (ErrRejected, ErrUnavailable,
// ErrUnknownProfile, ErrConfig) an error of the served Tokens is, or nil for
// none (an internal failure). The plugin process's main supplies it, since
// only it knows those errors' types; this package only translates.
type Classifier func(error) error

// classOf is classify's verdict on err, or, with no classifier, the
// sentinel err wraps itself.
func classOf(classify Classifier, err error) error {
	if classify != nil {
		return classify(err)
	}
	for _, s := range []error{ErrRejected, ErrUnavailable, ErrUnknownProfile, ErrConfig} {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}

// toStatus turns an error of the served Tokens into the gRPC status the host
// decodes with fromStatus. ctx is the request's: when the host gave up, that
// is the reason, whatever error Tokens made of it.
func toStatus(ctx context.Context, classify Classifier, err error) error {
	if err == nil {
		return nil
	}
	code := codes.Internal
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		code = codes.Canceled
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	default:
		switch class := classOf(classify, err); {
		case class == ErrUnknownProfile:
			code = codes.InvalidArgument
		case class == ErrRejected:
			code = codes.Unauthenticated
		case class == ErrUnavailable:
			code = codes.Unavailable
		case class == ErrConfig:
			code = codes.FailedPrecondition
		case errors.Is(err, context.Canceled):
			code = codes.Canceled
		case errors.Is(err, context.DeadlineExceeded):
			code = codes.DeadlineExceeded
		}
	}
	return status.Error(code, err.Error())
}

// fromStatus turns a gRPC error into an *Error.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	s := status.Convert(err)
	return &Error{Code: s.Code(), Message: s.Message()}
}
