package keyring_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/dt-credential-helper/dt-credential-helper"

// cacheMustNotReach are the packages the token cache must not link: it
// caches tokens, it does not mint them, so a program that only caches (or a
// Vault upstream) does not carry the DT exchange, its JWT library or its
// HTTP retries.
var cacheMustNotReach = []string{
	module + "/auth",
	"github.com/golang-jwt/jwt",
	"github.com/hashicorp/go-retryablehttp",
}

// deps returns the packages pkg imports, directly or not, when built for
// goos, as `go list` reports them.
func deps(t *testing.T, goos, pkg string) []string {
	t.Helper()
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the dependencies: %v", err)
	}
	cmd := exec.Command(gocmd, "list", "-deps", "-f", "{{.ImportPath}}", pkg)
	cmd.Env = append(os.Environ(), "GOOS="+goos)
	cmd.Stderr = new(strings.Builder)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("GOOS=%s go list -deps %s: %v\n%s", goos, pkg, err, cmd.Stderr)
	}
	return strings.Fields(string(out))
}

// reached returns the packages of list that are, or are inside, one of
// forbidden.
func reached(list, forbidden []string) []string {
	var bad []string
	for _, p := range list {
		for _, f := range forbidden {
			if p == f || strings.HasPrefix(p, f+"/") {
				bad = append(bad, p)
			}
		}
	}
	return bad
}

// TestCacheDoesNotReachTheExchange keeps the stack one-way: keyring, on
// every platform it builds for, links none of auth, golang-jwt and
// go-retryablehttp.
func TestCacheDoesNotReachTheExchange(t *testing.T) {
	for _, goos := range []string{"linux", "darwin", "windows"} {
		t.Run(goos, func(t *testing.T) {
			t.Parallel()
			if bad := reached(deps(t, goos, module+"/keyring"), cacheMustNotReach); len(bad) > 0 {
				t.Errorf("keyring reaches %v on %s: the cache must not depend on how tokens are minted", bad, goos)
			}
			// The check would see them: auth itself reaches all three.
			authDeps := deps(t, goos, module+"/auth")
			for _, f := range cacheMustNotReach {
				if len(reached(append(authDeps, module+"/auth"), []string{f})) == 0 {
					t.Errorf("auth does not reach %s on %s: the check above looks for a name that is not there", f, goos)
				}
			}
		})
	}
}
