package tokens

import (
	"cmp"
	"errors"
	"flag"
	"log/slog"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/bearer"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// Flags are the command-line flags that say which account, which cache and
// which limits the token sources use. They live here, not in a command, because
// two programs parse them: dt-credential-helper, and
// dt-credential-helper-plugin, which it hands a host's command line over to
// unchanged, so both must read it the same way.
type Flags struct {
	Profile         string
	KeyID           string
	Email           string
	TokenEndpoint   string
	CredentialsFile string
	Cache           string
	RefreshBuffer   time.Duration
	Timeout         time.Duration
	Verbose         bool
	// Vault names a Vault path to read tokens from instead of a DT account.
	Vault vaultenv.Reference
	// registered says RegisterServing ran: --refresh-buffer and --timeout
	// exist and their values are the user's to check.
	registered bool
}

// RegisterServing registers the flags of a command that fetches tokens, as
// the plugin takes them (each of its requests says whether to force a
// refresh, so there is no --force-refresh).
func (f *Flags) RegisterServing(fs *flag.FlagSet) {
	f.registered = true
	fs.StringVar(&f.Profile, "profile", "", "profile stored with 'login' (env "+profile.EnvProfile+")")
	f.RegisterLookup(fs)
	fs.DurationVar(&f.RefreshBuffer, "refresh-buffer", bearer.DefaultRefreshBuffer, "refresh a cached token with less than this left")
	fs.DurationVar(&f.Timeout, "timeout", auth.DefaultTimeout, "give up fetching a token after this long")
}

// RegisterLookup registers the flags that say which account and which cache
// a command looks at, and --verbose: all that status reads, since it lists
// every profile and refreshes nothing.
func (f *Flags) RegisterLookup(fs *flag.FlagSet) {
	f.RegisterAccount(fs)
	f.RegisterVault(fs, true)
	fs.StringVar(&f.CredentialsFile, "credentials-file", "", "DT SDK credentials file (env "+auth.EnvCredentialsFile+")")
	fs.StringVar(&f.Cache, "cache", "", "token cache: "+keyring.ModeChoices+" (env DT_TOKEN_CACHE; default "+string(keyring.ModeAuto)+")")
	fs.BoolVar(&f.Verbose, "verbose", false, "log each step to stderr (never a secret or token)")
}

// RegisterAccount registers the non-secret account flags.
func (f *Flags) RegisterAccount(fs *flag.FlagSet) {
	fs.StringVar(&f.KeyID, "key-id", "", "service account key id (env "+auth.EnvKeyID+")")
	fs.StringVar(&f.Email, "email", "", "service account email (env "+auth.EnvEmail+")")
	fs.StringVar(&f.TokenEndpoint, "token-endpoint", "", "token endpoint URL (env "+auth.EnvTokenEndpoint+"; default DT's)")
}

// RegisterVault registers the flags naming a Vault path and how to log in
// to Vault; withEnv says their environment variables count (not for login,
// which stores what it is given).
func (f *Flags) RegisterVault(fs *flag.FlagSet, withEnv bool) {
	env := func(name string) string {
		if withEnv {
			return " (env " + name + ")"
		}
		return ""
	}
	fs.StringVar(&f.Vault.Path, "vault-path", "", "read tokens from this Vault path of vault-plugin-secrets-dt, such as dt/token/prod, instead of a DT account"+env(vaultenv.EnvPath))
	fs.StringVar(&f.Vault.Role, "vault-role", "", "log in to Vault with this JWT auth role (with --vault-jwt-file) instead of VAULT_TOKEN"+env(vaultenv.EnvRole))
	fs.StringVar(&f.Vault.JWTFile, "vault-jwt-file", "", "the JWT to log in to Vault with, read at each login"+env(vaultenv.EnvJWTFile))
	fs.StringVar(&f.Vault.AuthMount, "vault-auth-mount", "", "where Vault's JWT auth method is mounted (default jwt)"+env(vaultenv.EnvAuthMount))
}

// Config returns the configuration the flags and the environment describe,
// logging to log. An error is a bad flag or variable value: the command
// line's fault, which callers report as a usage error.
func (f *Flags) Config(getenv func(string) string, log *slog.Logger) (Config, error) {
	if f.registered && f.RefreshBuffer < 0 {
		return Config{}, errors.New("--refresh-buffer must not be negative")
	}
	if f.registered && f.Timeout <= 0 {
		return Config{}, errors.New("--timeout must be positive")
	}
	mode, err := keyring.ParseMode(cmp.Or(f.Cache, getenv("DT_TOKEN_CACHE"), string(keyring.ModeAuto)))
	if err != nil {
		return Config{}, err
	}
	buffer := f.RefreshBuffer
	if f.registered && buffer == 0 {
		// On the command line 0 says no buffer, which a Config, as every
		// buffer setting of the module, spells bearer.NoBuffer.
		buffer = bearer.NoBuffer
	}
	return Config{
		Profile: cmp.Or(f.Profile, getenv(profile.EnvProfile)),
		Settings: auth.Settings{
			KeyID:           f.KeyID,
			Email:           f.Email,
			TokenEndpoint:   f.TokenEndpoint,
			CredentialsFile: f.CredentialsFile,
		},
		Cache:         mode,
		RefreshBuffer: buffer,
		Timeout:       f.Timeout,
		Getenv:        getenv,
		Log:           log,
		Vault:         f.Vault,
	}, nil
}
