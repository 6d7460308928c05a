//go:build !linux

package keyring

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	gokeyring "github.com/zalando/go-keyring"
)

// TestMapError: go-keyring's errors become the ones callers branch on. Only
// macOS and Windows return ErrSetDataTooBig, so the translation is tested
// here rather than through the keyring.
func TestMapError(t *testing.T) {
	dbusErr := errors.New("org.freedesktop.DBus.Error.ServiceUnknown")
	tests := []struct {
		name    string
		in      error
		want    error // nil: mapError returns nil
		notWant []error
	}{
		{name: "nil", in: nil},
		{name: "not found", in: gokeyring.ErrNotFound, want: ErrNotFound, notWant: []error{ErrUnreachable, ErrTooBig}},
		{name: "too big", in: gokeyring.ErrSetDataTooBig, want: ErrTooBig, notWant: []error{ErrUnreachable, ErrNotFound}},
		{name: "too big, wrapped", in: fmt.Errorf("set: %w", gokeyring.ErrSetDataTooBig), want: ErrTooBig, notWant: []error{ErrUnreachable}},
		{name: "anything else", in: dbusErr, want: ErrUnreachable, notWant: []error{ErrTooBig, ErrNotFound}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mapError("write", tt.in)
			if tt.want == nil {
				if got != nil {
					t.Fatalf("mapError(nil) = %v, want nil", got)
				}
				return
			}
			if !errors.Is(got, tt.want) {
				t.Errorf("mapError(%v) = %v, want it to wrap %v", tt.in, got, tt.want)
			}
			for _, e := range tt.notWant {
				if errors.Is(got, e) {
					t.Errorf("mapError(%v) = %v wraps %v", tt.in, got, e)
				}
			}
			if !strings.Contains(got.Error(), "write") {
				t.Errorf("mapError(%v) = %q does not name the operation", tt.in, got)
			}
		})
	}
}
