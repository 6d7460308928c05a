package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// linksPlugin are the packages whose initialisers make a process that links
// them start slowly: the plugin's program links them, the helper that each
// kubectl, git and docker call starts must not.
var linksPlugin = []string{"github.com/hashicorp/go-plugin", "google.golang.org/grpc", "google.golang.org/protobuf/"}

// TestHelperDoesNotLinkThePlugin: go list -deps, for every platform built
// for, finds none of go-plugin, gRPC or protobuf in the helper, and finds
// them in the plugin's program (so the test looks where they would be).
func TestHelperDoesNotLinkThePlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	for _, goos := range []string{"linux", "darwin", "windows"} {
		t.Run(goos, func(t *testing.T) {
			helper := deps(t, goos, ".")
			for _, p := range helper {
				for _, heavy := range linksPlugin {
					if strings.HasPrefix(p, heavy) {
						t.Errorf("the helper links %s", p)
					}
				}
			}
			served := deps(t, goos, "../"+pluginProg)
			for _, heavy := range linksPlugin {
				if !slices.ContainsFunc(served, func(p string) bool { return strings.HasPrefix(p, heavy) }) {
					t.Errorf("the plugin's program does not link %s: is the list right?", heavy)
				}
			}
		})
	}
}

// deps lists the packages pkg links when built for goos.
func deps(t *testing.T, goos, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", pkg)
	cmd.Env = append(cmd.Environ(), "GOOS="+goos, "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("GOOS=%s go list -deps %s: %v\n%s", goos, pkg, err, out)
	}
	list := strings.Fields(string(out))
	if len(list) < 10 {
		t.Fatalf("go list listed only %d packages:\n%s", len(list), out)
	}
	return list
}
