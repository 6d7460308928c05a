package provider

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken"
)

// vaultScheme starts the recorded endpoint of a Vault account, so that its
// cache entries never mix with a DT account's, and status can tell them apart.
const vaultScheme = "vault:"

// defaultVaultAddr is the Vault client's address when the environment
// names none (api.DefaultAddress).
const defaultVaultAddr = "https://127.0.0.1:8200"

// IsVault reports whether account, as Account returns it, reads its tokens
// from Vault: its TokenEndpoint is then the Vault URL of the path, its KeyID
// the path, and its Email the Vault identity used (a JWT role, or "vault
// token").
func IsVault(account auth.Credentials) bool {
	return strings.HasPrefix(account.TokenEndpoint, vaultScheme)
}

// vaultSettings decides whether profile name (prof its Vault settings, nil
// for a DT profile) reads tokens from Vault, and where: a Vault profile's
// settings under the flags; without a profile, the flags over the DT_VAULT_*
// environment.
func (p *Provider) vaultSettings(name string, prof *profile.Vault) (profile.Vault, bool, error) {
	flags := p.cfg.Vault
	var v profile.Vault
	switch {
	case name != "" && prof == nil:
		if flags.Path != "" {
			return v, false, &auth.ConfigError{Msg: fmt.Sprintf("profile %q is a DT service account profile: --vault-path goes with a Vault profile or no profile", name)}
		}
		return v, false, nil
	case name != "":
		v = *prof
	default:
		getenv := p.cfg.Getenv
		v = profile.Vault{Path: getenv(EnvVaultPath), Role: getenv(EnvVaultRole), JWTFile: getenv(EnvVaultJWTFile), AuthMount: getenv(EnvVaultAuthMount)}
	}
	v = profile.Vault{
		Path:      cmp.Or(flags.Path, v.Path),
		Role:      cmp.Or(flags.Role, v.Role),
		JWTFile:   cmp.Or(flags.JWTFile, v.JWTFile),
		AuthMount: cmp.Or(flags.AuthMount, v.AuthMount),
	}
	if v.Path == "" {
		if v.Role != "" || v.JWTFile != "" {
			return v, false, &auth.ConfigError{Msg: "a Vault role or JWT file is given without a Vault path (--vault-path or " + EnvVaultPath + ")"}
		}
		return v, false, nil
	}
	if s := p.cfg.Settings; s.KeyID != "" || s.Email != "" || s.TokenEndpoint != "" || s.CredentialsFile != "" {
		return v, false, &auth.ConfigError{Msg: "give either a Vault path or a DT service account (--key-id, --email, --token-endpoint, --credentials-file), not both"}
	}
	return v, true, nil
}

// vaultEntry is the cached source of a Vault path. The Vault client is set
// up at the first refresh (vaulttoken.NewSource reads no environment and
// makes no request), so a call the cache serves pays nothing for Vault.
func (p *Provider) vaultEntry(v profile.Vault) (entry, error) {
	src, err := vaulttoken.NewSource(vaulttoken.Config{Path: v.Path, Role: v.Role, JWTFile: v.JWTFile, AuthMount: v.AuthMount, Log: p.cfg.Log})
	if err != nil {
		return entry{}, vaultError(err)
	}
	account := VaultAccount(v, p.cfg.Getenv)
	store, err := p.tokenStore()
	if err != nil {
		return entry{}, err
	}
	s := keyring.NewCache(vaultSource{src}, keyring.CacheConfig{
		Store:    store,
		Key:      keyring.Key(account.TokenEndpoint, account.KeyID, account.Email),
		Endpoint: account.TokenEndpoint,
		KeyID:    account.KeyID,
		Email:    account.Email,
		Buffer:   noZero(p.cfg.RefreshBuffer),
		LockDir:  p.cacheDir,
		Timeout:  p.cfg.Timeout,
		Log:      p.cfg.Log,
	})
	return entry{src: s, account: account}, nil
}

// VaultAccount is the account v's tokens are cached under: the URL of the
// path at the Vault of the environment (VAULT_AGENT_ADDR or VAULT_ADDR, and
// VAULT_NAMESPACE, as the Vault client reads them) as the endpoint, the
// path as the key id, and the Vault identity as the email. Two Vaults,
// namespaces or roles never share an entry, and none shares one with a DT
// account.
func VaultAccount(v profile.Vault, getenv func(string) string) auth.Credentials {
	addr := cmp.Or(getenv("VAULT_AGENT_ADDR"), getenv("VAULT_ADDR"), defaultVaultAddr)
	path := strings.Trim(strings.TrimSpace(v.Path), "/")
	full := path
	if ns := strings.Trim(getenv("VAULT_NAMESPACE"), "/"); ns != "" {
		// Vault reads /v1/<namespace>/<path> as <path> in that namespace.
		full = ns + "/" + path
	}
	identity := "vault token"
	if v.Role != "" {
		identity = fmt.Sprintf("role %s at auth/%s", v.Role, cmp.Or(strings.Trim(v.AuthMount, "/"), vaulttoken.DefaultAuthMount))
	}
	return auth.Credentials{
		TokenEndpoint: vaultScheme + strings.TrimRight(addr, "/") + "/v1/" + full,
		KeyID:         path,
		Email:         identity,
	}
}

// vaultSource is a vaulttoken.Source whose configuration errors are
// *auth.ConfigError, as a DT account's are: the command exits 2 on them,
// and the plugin answers FailedPrecondition. Its other errors keep their
// Temporary(), so the cache serves a token it holds while Vault is down.
type vaultSource struct{ src *vaulttoken.Source }

func (v vaultSource) Token() (*oauth2.Token, error) { return v.TokenContext(context.Background()) }

func (v vaultSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	tok, err := v.src.TokenContext(ctx)
	return tok, vaultError(err)
}

func vaultError(err error) error {
	var ve *vaulttoken.Error
	if errors.As(err, &ve) && ve.Kind == vaulttoken.Misconfigured {
		return &auth.ConfigError{Msg: ve.Error(), Err: err}
	}
	return err
}
