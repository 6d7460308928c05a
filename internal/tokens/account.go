package tokens

import (
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// Account is the account a profile, or the flags and environment, resolve
// to: whose tokens are cached, and what mints them.
type Account struct {
	// Credentials names the account without its secret: a DT service
	// account, or for a Vault path the identity its tokens are cached
	// under (see [VaultAccount]).
	Credentials auth.Credentials
	// Vault is the Vault path tokens are read from; nil for a DT account.
	Vault *vaultenv.Reference

	profile string           // the profile whose secret a refresh reads; "" = none
	creds   auth.Credentials // with the environment's secret when profile is ""
	vault   keyring.Upstream // reads a Vault account's tokens
	// identity is who asks for the account's tokens: the digest of the
	// environment's DT secret, or of the Vault identity (vaultIdentity);
	// any for a profile's DT account, whose secret, in a store, is not
	// read to serve a cached token: login and logout remove the profile's
	// cached tokens instead.
	identity keyring.Identity
}

// Key is the account's key in the token cache.
func (a Account) Key() string {
	return keyring.Key(a.Credentials.TokenEndpoint, a.Credentials.KeyID, a.Credentials.Email)
}

// Resolve returns the account profile name stands for under cfg, its
// secret unread: the profile's fields under the flags, the environment and
// a credentials file; a Vault path; or, for name "", the flags and
// environment alone. It reads no secret but the environment's (and for a
// Vault path, the Vault token or JWT that says who reads), and opens no
// store.
func Resolve(cfg Config, profiles *profile.Repository, name string) (Account, error) {
	cfg = cfg.withDefaults()
	var layer auth.Credentials
	var vault *vaultenv.Reference
	if name != "" {
		pa, err := profiles.Account(name)
		if err != nil {
			return Account{}, err
		}
		layer, vault = pa.Credentials, pa.Vault
	}
	if v, ok, err := vaultSettings(cfg, name, vault); err != nil {
		return Account{}, err
	} else if ok {
		if cfg.VaultUpstream == nil {
			return Account{}, &auth.ConfigError{Msg: "this program does not read tokens from Vault"}
		}
		src, err := cfg.VaultUpstream(v)
		if err != nil {
			return Account{}, err
		}
		a := Account{Credentials: VaultAccount(v, cfg.Getenv), Vault: &v, vault: src}
		a.identity = vaultIdentity(v, cfg.Getenv, a.Key(), time.Now())
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
	account := creds
	account.Secret = ""
	a := Account{Credentials: account, profile: name, creds: creds}
	if name == "" {
		a.identity = keyring.NewIdentity(a.Key(), creds.Secret)
	}
	return a, nil
}
