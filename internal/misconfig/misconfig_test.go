package misconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

// said is an error that says, either way, whether it is misconfiguration.
type said bool

func (s said) Error() string       { return fmt.Sprintf("misconfigured: %v", bool(s)) }
func (s said) Misconfigured() bool { return bool(s) }
func (s said) Unwrap() error       { return Errorf("below") }

func TestIs(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("x"), false},
		{"Errorf", Errorf("bad %s", "flag"), true},
		{"Wrap", Wrap(fs.ErrNotExist), true},
		{"wrapped", fmt.Errorf("login: %w", Wrap(fs.ErrNotExist)), true},
		{"joined", errors.Join(errors.New("x"), Errorf("y")), true},
		// The first error with the method decides, as Temporary() does:
		// a wrapper that says no is not overruled by what it wraps.
		{"says no over one that says yes", said(false), false},
		{"says yes", fmt.Errorf("ctx: %w", said(true)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Is(tt.err); got != tt.want {
				t.Errorf("Is(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestWrapKeepsMessageAndChain(t *testing.T) {
	if Wrap(nil) != nil {
		t.Error("Wrap(nil) is not nil")
	}
	inner := fmt.Errorf("profiles file: %w", fs.ErrPermission)
	err := Wrap(inner)
	if err.Error() != inner.Error() {
		t.Errorf("message %q, want %q", err, inner)
	}
	if !errors.Is(err, fs.ErrPermission) {
		t.Error("errors.Is does not find what the wrapped error wraps")
	}
	var e *Error
	if !errors.As(fmt.Errorf("x: %w", err), &e) || e.Unwrap() != inner {
		t.Error("errors.As does not find the *Error")
	}
	if err := Errorf("unknown profile %q: %w", "p", fs.ErrNotExist); err.Error() != `unknown profile "p": file does not exist` || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Errorf = %v, does not format or wrap as fmt.Errorf", err)
	}
}
