package tokens

import (
	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// Location is the token cache cfg names, for keyring.OpenLocation and
// keyring.Forget: its cache mode, in the cache directory the environment
// names, with cfg's keyring timeout and log.
func (c Config) Location() keyring.LocationConfig {
	c = c.withDefaults()
	return keyring.LocationConfig{Mode: c.Cache, Getenv: c.Getenv, KeyringTimeout: c.KeyringTimeout, Log: c.Log}
}

// OpenLocation opens the token cache cfg names (keyring.OpenLocation). Its
// errors are the configuration's (misconfig), as every
// configuration error of the token sources is.
func OpenLocation(cfg Config) (keyring.Location, error) {
	loc, err := keyring.OpenLocation(cfg.Location())
	if err != nil {
		return keyring.Location{}, misconfig.Wrap(err)
	}
	return loc, nil
}
