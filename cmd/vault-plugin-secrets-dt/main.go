// Command vault-plugin-secrets-dt is a HashiCorp Vault (and OpenBao) secrets
// engine that holds Disruptive Technologies service accounts and mints
// short-lived access tokens from them; see docs/vault.md. Vault starts it;
// it is not run by hand.
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/vault/sdk/plugin"

	"github.com/dt-credential-helper/dt-credential-helper/cmd/vault-plugin-secrets-dt/internal/backend"
)

func main() {
	if err := plugin.ServeMultiplex(&plugin.ServeOpts{BackendFactoryFunc: backend.Factory}); err != nil {
		fmt.Fprintln(os.Stderr, "vault-plugin-secrets-dt:", err)
		os.Exit(1)
	}
}
