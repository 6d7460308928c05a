//go:build unix

package buildinfo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRun: a report is read from the program's stdout; a program that
// says something else, too much, or nothing in time is an error, in
// bounded time; the program is handed no environment.
func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"a report", `[ -z "$HOME" ] && echo '{"program":"p","version":"v1","commit":"c","go":"go1","platform":"os/arch","dependencies":{}}'`, ""},
		{"not JSON", `echo version 1`, "not a JSON report"},
		{"no version", `echo '{"program":"p"}'`, "no program or version"},
		{"too much", `head -c 100000 /dev/zero`, "over"},
		{"fails", `exit 3`, "exit status 3"},
		{"hangs", `exec sleep 30`, "no answer in time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("HOME", "/should-not-be-passed")
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			start := time.Now()
			info, err := Run(ctx, script(t, tc.body))
			if time.Since(start) > 5*time.Second {
				t.Errorf("Run took %v", time.Since(start))
			}
			if tc.want == "" {
				if err != nil || info.Version != "v1" {
					t.Errorf("Run: %+v, %v", info, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run: %v; want an error saying %q", err, tc.want)
			}
		})
	}
}
