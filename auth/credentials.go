package auth

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/dt-credential-helper/dt-credential-helper/bearer"
	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// DefaultTokenEndpoint is DT's token endpoint.
const DefaultTokenEndpoint = "https://identity.disruptive-technologies.com/oauth2/token"

// Environment variables read by [FromEnv], named as in DT's documentation.
const (
	EnvKeyID           = "DT_SERVICE_ACCOUNT_KEY_ID"
	EnvEmail           = "DT_SERVICE_ACCOUNT_EMAIL"
	EnvSecret          = "DT_SERVICE_ACCOUNT_SECRET"
	EnvTokenEndpoint   = "DT_TOKEN_ENDPOINT"
	EnvCredentialsFile = "DT_CREDENTIALS_FILE"
)

// maxCredentialsFile bounds how much of a credentials file is read.
const maxCredentialsFile = 1 << 20

// Credentials identify a DT service account and the endpoint that issues its
// tokens. The Secret never appears in any output: [Credentials.String] and
// %v leave it out.
type Credentials struct {
	KeyID         string
	Email         string
	Secret        string
	TokenEndpoint string
}

// String describes c without its secret.
func (c Credentials) String() string {
	return fmt.Sprintf("key id %q, email %q, token endpoint %q", c.KeyID, c.Email, c.TokenEndpoint)
}

// GoString keeps the secret out of %#v as well.
func (c Credentials) GoString() string { return "auth.Credentials{" + c.String() + "}" }

// Merge fills each empty field of c from the first of layers that has it. Call
// it highest precedence first: flags.Merge(profile, env, file).
func (c Credentials) Merge(layers ...Credentials) Credentials {
	for _, l := range layers {
		c.KeyID = cmp.Or(c.KeyID, l.KeyID)
		c.Email = cmp.Or(c.Email, l.Email)
		c.Secret = cmp.Or(c.Secret, l.Secret)
		c.TokenEndpoint = cmp.Or(c.TokenEndpoint, l.TokenEndpoint)
	}
	return c
}

// Validate reports a *ConfigError naming every missing input and rejecting a
// token endpoint the assertion must not be sent to.
func (c Credentials) Validate() error { return c.validate(true) }

// ValidateAccount is Validate without the secret, for an account whose
// secret is read later (from the keyring, only when a refresh needs it).
func (c Credentials) ValidateAccount() error { return c.validate(false) }

func (c Credentials) validate(needSecret bool) error {
	var missing []string
	if c.KeyID == "" {
		missing = append(missing, "key id (--key-id or "+EnvKeyID+")")
	}
	if c.Email == "" {
		missing = append(missing, "email (--email or "+EnvEmail+")")
	}
	if needSecret && c.Secret == "" {
		missing = append(missing, "secret ("+EnvSecret+", a credentials file or `login`)")
	}
	if len(missing) > 0 {
		return &ConfigError{Msg: "missing " + strings.Join(missing, ", ")}
	}
	return ValidateEndpoint(c.TokenEndpoint)
}

// ValidateEndpoint checks that endpoint is an absolute https URL, or http on a
// loopback host. The assertion is a credential valid for up to an hour, so it
// must not cross a network in clear text.
func ValidateEndpoint(endpoint string) error {
	if endpoint == "" {
		return &ConfigError{Msg: "missing token endpoint"}
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return &ConfigError{Msg: fmt.Sprintf("token endpoint %q is not a URL", endpoint)}
	}
	switch {
	case u.Host == "" || !u.IsAbs():
		return &ConfigError{Msg: fmt.Sprintf("token endpoint %q is not an absolute URL", endpoint)}
	case u.User != nil:
		return &ConfigError{Msg: "token endpoint must not contain user information"}
	case u.RawQuery != "" || u.Fragment != "":
		return &ConfigError{Msg: fmt.Sprintf("token endpoint %q must not have a query or fragment", endpoint)}
	case bearer.MayCarry(u.Scheme, u.Hostname()):
		return nil
	case u.Scheme == "http":
		return &ConfigError{Msg: fmt.Sprintf("token endpoint %q is plain http: use https (plain http is allowed only for loopback hosts)", endpoint)}
	default:
		return &ConfigError{Msg: fmt.Sprintf("token endpoint %q: unsupported scheme %q, use https", endpoint, u.Scheme)}
	}
}

// FromEnv reads the service account variables through getenv (os.Getenv in
// production, a map in tests).
func FromEnv(getenv func(string) string) Credentials {
	return Credentials{
		KeyID:         strings.TrimSpace(getenv(EnvKeyID)),
		Email:         strings.TrimSpace(getenv(EnvEmail)),
		Secret:        getenv(EnvSecret),
		TokenEndpoint: strings.TrimSpace(getenv(EnvTokenEndpoint)),
	}
}

// credentialsFile is DT's SDK credentials file format.
type credentialsFile struct {
	ServiceAccount *struct {
		KeyID         string `json:"keyId"`
		Secret        string `json:"secret"`
		Email         string `json:"email"`
		Algorithm     string `json:"algorithm"`
		TokenEndpoint string `json:"tokenEndpoint"`
	} `json:"serviceAccount"`
}

// ReadCredentialsFile reads DT's SDK credentials file,
// {"serviceAccount":{"keyId","secret","email","algorithm","tokenEndpoint"}}.
// It holds the secret, so it is trusted as OpenSSH trusts a private key:
// only a regular file of ours that group and others cannot access (the
// advice for one they can is chmod 600), named without a final symlink (on
// unix), looked up only through directories that are ours or root's and
// that others cannot write unless sticky. A FIFO in its place is refused,
// never waited on. The rules are keyring/privatefile's, the ones every
// file the program trusts follows. Errors never quote the file's content.
func ReadCredentialsFile(path string) (Credentials, error) {
	data, err := privatefile.ReadFile(path, maxCredentialsFile, privatefile.Check)
	var perr *privatefile.PermissionError
	switch {
	case errors.As(err, &perr):
		return Credentials{}, newConfigError(fmt.Errorf("credentials file not trusted: %w", err))
	case err != nil:
		return Credentials{}, newConfigError(fmt.Errorf("credentials file: %w", err))
	case len(data) > maxCredentialsFile:
		return Credentials{}, &ConfigError{Msg: fmt.Sprintf("credentials file %s is larger than 1 MiB", path)}
	}
	return ParseCredentialsFile(data, path)
}

// ParseCredentialsFile parses the content of a credentials file; name is used
// in errors only.
func ParseCredentialsFile(data []byte, name string) (Credentials, error) {
	var cf credentialsFile
	if err := json.Unmarshal(data, &cf); err != nil {
		// The JSON error may quote content (the secret): name only its kind.
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return Credentials{}, &ConfigError{Msg: fmt.Sprintf("credentials file %s is not valid JSON (at byte %d)", name, syn.Offset)}
		}
		return Credentials{}, &ConfigError{Msg: fmt.Sprintf("credentials file %s does not have the expected shape {\"serviceAccount\":{...}} with string fields", name)}
	}
	sa := cf.ServiceAccount
	if sa == nil {
		return Credentials{}, &ConfigError{Msg: fmt.Sprintf("credentials file %s has no \"serviceAccount\" object", name)}
	}
	if sa.Algorithm != "" && !strings.EqualFold(sa.Algorithm, "HS256") {
		// The value is not quoted: nothing from the file is, lest it be the secret.
		return Credentials{}, &ConfigError{Msg: fmt.Sprintf("credentials file %s: the algorithm is not supported, only HS256", name)}
	}
	return Credentials{
		KeyID:         strings.TrimSpace(sa.KeyID),
		Email:         strings.TrimSpace(sa.Email),
		Secret:        sa.Secret,
		TokenEndpoint: strings.TrimSpace(sa.TokenEndpoint),
	}, nil
}

// Settings are the non-secret inputs a command line may give.
type Settings struct {
	KeyID           string
	Email           string
	TokenEndpoint   string
	CredentialsFile string
}

// Resolve combines, highest precedence first: settings (flags), the
// environment, the credentials file (settings.CredentialsFile, else
// DT_CREDENTIALS_FILE), then [DefaultTokenEndpoint]; and validates the result.
// Profiles add a layer between flags and the environment; see [Credentials.Merge].
func Resolve(s Settings, getenv func(string) string) (Credentials, error) {
	c, err := Layers(s, Credentials{}, getenv)
	if err != nil {
		return Credentials{}, err
	}
	return c, c.Validate()
}

// Layers merges flags, profile, environment, credentials file and defaults
// without validating, so a caller can add the secret from elsewhere first.
func Layers(s Settings, profile Credentials, getenv func(string) string) (Credentials, error) {
	flags := Credentials{KeyID: s.KeyID, Email: s.Email, TokenEndpoint: s.TokenEndpoint}
	var file Credentials
	path := cmp.Or(s.CredentialsFile, getenv(EnvCredentialsFile))
	if path != "" {
		var err error
		if file, err = ReadCredentialsFile(path); err != nil {
			return Credentials{}, err
		}
	}
	return flags.Merge(profile, FromEnv(getenv), file, Credentials{TokenEndpoint: DefaultTokenEndpoint}), nil
}
