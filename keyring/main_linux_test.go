package keyring

import (
	"os"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/keyringtest"
)

// TestMain lets keyringtest.DenyKeyctl run a helper process under its
// seccomp filter; otherwise it only runs the tests.
func TestMain(m *testing.M) {
	keyringtest.ExecDenyingKeyctl()
	os.Exit(m.Run())
}
