package testutil

import (
	"fmt"
	"testing"
)

// outcomeTB records what a test helper ends t with, instead of ending it.
type outcomeTB struct {
	testing.TB
	fatal, skip string
}

func (o *outcomeTB) Helper()           {}
func (o *outcomeTB) Fatal(args ...any) { o.fatal = fmt.Sprint(args...) }
func (o *outcomeTB) Skip(args ...any)  { o.skip = fmt.Sprint(args...) }

func TestSkipOutsideCI(t *testing.T) {
	tests := []struct {
		ci              string
		wantFatal, skip string
	}{
		{"", "", "no kubectl"},
		{"true", "no kubectl (CI is set: this test must run there)", ""},
		{"1", "no kubectl (CI is set: this test must run there)", ""},
	}
	for _, tt := range tests {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			o := &outcomeTB{TB: t}
			SkipOutsideCI(o, "no kubectl")
			if o.fatal != tt.wantFatal || o.skip != tt.skip {
				t.Errorf("fatal %q, skip %q; want fatal %q, skip %q", o.fatal, o.skip, tt.wantFatal, tt.skip)
			}
		})
	}
}
