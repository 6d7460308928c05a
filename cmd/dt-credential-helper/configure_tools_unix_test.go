//go:build unix

package main

import (
	"os"
	"strings"
	"testing"
)

// TestRunToolBounds: a tool's stdout over maxToolOutput is an error (what
// runTool keeps of it is bounded: internal/boundedbuf), and a failing
// tool's error quotes the first 500 bytes of its stderr, however much it
// wrote. A real /bin/sh writes them.
func TestRunToolBounds(t *testing.T) {
	e := env{getenv: func(string) string { return "" }, environ: func() []string { return []string{"PATH=/usr/bin:/bin"} }}
	for _, tc := range []struct {
		name, script, want string
		out                int
	}{
		{name: "output at the bound", script: "head -c 4194304 /dev/zero", out: maxToolOutput},
		{name: "output over the bound", script: "head -c 4194305 /dev/zero", want: "more output than 4 MiB"},
		{name: "much stderr", script: "head -c 1000000 /dev/zero | tr '\\0' e >&2; exit 3", want: "exit status 3: " + strings.Repeat("e", 500) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat("/bin/sh"); err != nil {
				t.Skip(err)
			}
			out, err := runTool(t.Context(), e, "/bin/sh", []string{"-c", tc.script})
			if tc.want == "" {
				if err != nil || len(out) != tc.out {
					t.Fatalf("%d bytes, %v; want %d bytes", len(out), err, tc.out)
				}
				return
			}
			if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
				t.Fatalf("error %.200v; want one ending %q", err, tc.want[:min(len(tc.want), 40)])
			}
		})
	}
}
