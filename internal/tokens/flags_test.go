package tokens

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// TestFlagsRefreshBuffer: the command line's --refresh-buffer becomes a
// Config's buffer in bearer's convention, which the cache follows: the
// flag's 0 (no buffer) is bearer.NoBuffer, since a Config's zero is the
// default buffer.
func TestFlagsRefreshBuffer(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want time.Duration
	}{
		{"the default", nil, bearer.DefaultRefreshBuffer},
		{"a buffer", []string{"--refresh-buffer", "5m"}, 5 * time.Minute},
		{"0 is none", []string{"--refresh-buffer", "0"}, bearer.NoBuffer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f Flags
			fs := flag.NewFlagSet("token", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			f.RegisterServing(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := f.Config(func(string) string { return "" }, nil)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.RefreshBuffer != tc.want {
				t.Errorf("RefreshBuffer = %v, want %v", cfg.RefreshBuffer, tc.want)
			}
		})
	}
}
