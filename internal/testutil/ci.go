package testutil

import (
	"os"
	"testing"
)

// SkipOutsideCI skips t, saying why, except in CI (the CI variable set),
// where it fails t: CI's machine has what the test needs (kubectl, keyctl,
// mounts as root, ...), so a test that skips there is a test that passes
// without testing.
func SkipOutsideCI(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why + " (CI is set: this test must run there)")
	} else {
		t.Skip(why)
	}
}
