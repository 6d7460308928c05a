package keyring

import (
	"os"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
	"github.com/dt-credential-helper/dt-credential-helper/keyring/keyringtest"
)

// TestMain lets keyringtest.DenyKeyctl run a helper process under its
// seccomp filter (Linux only; elsewhere it returns at once); otherwise it
// runs the tests with a private HOME and XDG directories and none of the
// user's settings (testutil.RunIsolated).
func TestMain(m *testing.M) {
	keyringtest.ExecDenyingKeyctl()
	os.Exit(testutil.RunIsolated(m))
}
