package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The engine's SDK is a large dependency tree (Vault's logical and framework
// packages, go-kms-wrapping, ...) that the helper has no use for: it must
// never be linked into the binary every kubectl, git and docker call starts.
func TestHelperDoesNotLinkTheVaultSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "../dt-credential-helper").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/dt-credential-helper: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list listed only %d packages:\n%s", len(deps), out)
	}
	for _, p := range deps {
		if strings.HasPrefix(p, "github.com/hashicorp/vault/sdk") {
			t.Errorf("the helper links %s", p)
		}
	}
}
