package tokens

import (
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// Account is what a profile, or the flags and environment, resolve to:
// whose tokens are cached (the cache's account, keyring.Account, the one
// account type without a secret), and what mints them.
type Account struct {
	// Cache is the account the tokens are cached under and who asks for
	// them: a DT service account (its endpoint, key id and email), or for
	// a Vault path the identity its tokens are cached under (see
	// [VaultAccount]). Its Identity is the digest of the environment's DT
	// secret, of the Vault identity (vaultIdentity), or for a profile's DT
	// account of its cache nonce (profile.Account.CacheIdentity), new with
	// each secret: the secret, in a store, is not read to serve a cached
	// token.
	Cache keyring.Account
	// Vault is the Vault path tokens are read from; nil for a DT account.
	Vault *vaultenv.Reference

	profile string           // the profile whose secret a refresh reads; "" = none
	creds   auth.Credentials // with the environment's secret when profile is ""
	vault   keyring.Upstream // reads a Vault account's tokens
}

// Resolve returns the account profile name stands for under cfg, its
// secret unread: the profile's fields under the flags, the environment and
// a credentials file; a Vault path; or, for name "", the flags and
// environment alone. It reads no secret but the environment's (and for a
// Vault path, the Vault token or JWT that says who reads), and opens no
// store.
func Resolve(cfg Config, profiles *profile.Repository, name string) (Account, error) {
	cfg = cfg.withDefaults()
	var pa profile.Account
	if name != "" {
		var err error
		if pa, err = profiles.Account(name); err != nil {
			return Account{}, err
		}
	}
	layer, vault := pa.Credentials, pa.Vault
	if v, ok, err := vaultSettings(cfg, name, vault); err != nil {
		return Account{}, err
	} else if ok {
		if cfg.VaultUpstream == nil {
			return Account{}, misconfig.Errorf("this program does not read tokens from Vault")
		}
		src, err := cfg.VaultUpstream(v)
		if err != nil {
			return Account{}, err
		}
		a := Account{Cache: VaultAccount(v, cfg.Getenv), Vault: &v, vault: src}
		a.Cache.Identity = vaultIdentity(v, cfg.Getenv, a.Cache.Key(), time.Now())
		return a, nil
	}
	creds, err := auth.Layers(cfg.Settings, layer, cfg.Getenv)
	if err != nil {
		return Account{}, err
	}
	if name != "" {
		// The environment's secret belongs to the environment's account,
		// not to a profile's, whose secret is in the repository.
		creds.Secret = ""
		err = creds.ValidateAccount()
	} else {
		err = creds.Validate()
	}
	if err != nil {
		return Account{}, err
	}
	a := Account{Cache: CacheAccount(creds), profile: name, creds: creds}
	if name == "" {
		a.Cache.Identity = keyring.NewIdentity(a.Cache.Key(), creds.Secret)
	} else {
		a.Cache.Identity = pa.CacheIdentity(a.Cache.Key())
	}
	return a, nil
}

// CacheAccount is the account a DT service account's tokens are cached
// under: its endpoint, key id and email, never its secret.
func CacheAccount(c auth.Credentials) keyring.Account {
	return keyring.Account{Endpoint: c.TokenEndpoint, KeyID: c.KeyID, Email: c.Email}
}
