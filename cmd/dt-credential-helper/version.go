package main

import (
	"cmp"
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = ""
	commit  = ""
)

// buildInfo returns the version and commit, from the linker flags or, for a
// `go install`ed binary, from the module's build information.
func buildInfo() (v, c string) {
	v, c = version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	return cmp.Or(v, "devel"), cmp.Or(c, "unknown")
}

func runVersion(_ context.Context, e env, args []string) error {
	fs := newFlagSet(e, "version", "version")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	v, c := buildInfo()
	_, err := fmt.Fprintf(e.stdout, "%s %s (commit %s, %s, %s/%s)\n", prog, v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
