package plugin

import (
	"context"
	"errors"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
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

// toStatus turns a Provider error into the gRPC status the host decodes with
// fromStatus. ctx is the request's: when the host gave up, that is the
// reason, whatever error the provider made of it.
func toStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var cfg *auth.ConfigError
	code := codes.Internal
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		code = codes.Canceled
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	// Before ConfigError: the provider wraps ErrUnknown inside one.
	case errors.Is(err, profile.ErrUnknown):
		code = codes.InvalidArgument
	case auth.IsRejected(err):
		code = codes.Unauthenticated
	case auth.IsTransient(err), errors.Is(err, keyring.ErrUnavailable):
		// An unreachable keyring (under --cache keyring) may come back, as
		// a network may.
		code = codes.Unavailable
	case errors.As(err, &cfg):
		code = codes.FailedPrecondition
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case temporary(err):
		// After the context's errors, which say Temporary too: a sealed
		// or unreachable Vault that a profile reads its tokens from.
		code = codes.Unavailable
	}
	return status.Error(code, err.Error())
}

// temporary reports whether err says, by the net.Error convention, that
// trying again later may succeed: a sealed or unreachable Vault does.
func temporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// fromStatus turns a gRPC error into an *Error.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	s := status.Convert(err)
	return &Error{Code: s.Code(), Message: s.Message()}
}
