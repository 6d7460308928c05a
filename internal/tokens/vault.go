package tokens

import (
	"cmp"
	"fmt"
	"net/url"
	"strings"

	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// vaultScheme starts the recorded endpoint of a Vault account, so that its
// cache entries never mix with a DT account's.
const vaultScheme = "vault:"

// vaultSettings decides whether profile name (prof its Vault settings, nil
// for a DT profile) reads tokens from Vault, and where: a Vault profile's
// settings under the flags; without a profile, the flags over the DT_VAULT_*
// environment.
func vaultSettings(cfg Config, name string, prof *vaultenv.Reference) (vaultenv.Reference, bool, error) {
	flags := cfg.Vault
	var v vaultenv.Reference
	switch {
	case name != "" && prof == nil:
		if flags.Path != "" {
			return v, false, misconfig.Errorf("profile %q is a DT service account profile: --vault-path goes with a Vault profile or no profile", name)
		}
		return v, false, nil
	case name != "":
		v = *prof
	default:
		getenv := cfg.Getenv
		v = vaultenv.FromEnv(getenv)
	}
	v = vaultenv.Reference{
		Path:      cmp.Or(flags.Path, v.Path),
		Role:      cmp.Or(flags.Role, v.Role),
		JWTFile:   cmp.Or(flags.JWTFile, v.JWTFile),
		AuthMount: cmp.Or(flags.AuthMount, v.AuthMount),
	}
	if v.Path == "" {
		if v.Role != "" || v.JWTFile != "" {
			return v, false, misconfig.Errorf("a Vault role or JWT file is given without a Vault path (--vault-path or %s)", vaultenv.EnvPath)
		}
		return v, false, nil
	}
	if s := cfg.Settings; s.KeyID != "" || s.Email != "" || s.TokenEndpoint != "" || s.CredentialsFile != "" {
		return v, false, misconfig.Errorf("give either a Vault path or a DT service account (--key-id, --email, --token-endpoint, --credentials-file), not both")
	}
	return v, true, nil
}

// VaultAccount is the account v's tokens are cached under: the URL of the
// path at the Vault of the environment (the address Vault's client uses,
// vaultenv.Address, and VAULT_NAMESPACE) as the endpoint, the
// path as the key id, and the Vault identity as the email. Two Vaults,
// namespaces or roles never share an entry, and none shares one with a DT
// account.
func VaultAccount(v vaultenv.Reference, getenv func(string) string) keyring.Account {
	addr := vaultenv.Address(getenv)
	if u, err := url.Parse(addr); err == nil && u.User != nil {
		// Never recorded, logged or shown; the Vault client refuses such
		// an address anyway.
		u.User = nil
		addr = u.String()
	}
	path := vaultenv.TokenPath(v.Path)
	full := path
	if ns := strings.Trim(getenv("VAULT_NAMESPACE"), "/"); ns != "" {
		// Vault reads /v1/<namespace>/<path> as <path> in that namespace.
		full = ns + "/" + path
	}
	identity := "vault token"
	if v.Role != "" {
		identity = fmt.Sprintf("role %s at auth/%s", v.Role, vaultenv.AuthMount(v.AuthMount))
	}
	return keyring.Account{
		Endpoint: vaultScheme + strings.TrimRight(addr, "/") + "/v1/" + full,
		KeyID:    path,
		Email:    identity,
	}
}
