package vaultenv

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
)

// Reference names a token path of the vault-plugin-secrets-dt engine and
// how to log in to Vault to read it. A Vault profile stores one (these are
// its fields in profiles.json), the --vault-* flags and the DT_VAULT_*
// variables ([FromEnv]) give one, and the helper hands one to the program
// that reads Vault for it in those variables ([Reference.Environ]). The
// Vault address, namespace and TLS settings are not part of it: they come
// from the standard Vault environment (VAULT_ADDR and the like) at each
// call.
type Reference struct {
	// Path is the engine's token path, mount included: "dt/token/prod".
	Path string `json:"path"`
	// Role and JWTFile, when set, log in with Vault's JWT auth method
	// (mounted at AuthMount, default [DefaultAuthMount]) instead of using a
	// Vault token.
	Role      string `json:"role,omitempty"`
	JWTFile   string `json:"jwt_file,omitempty"`
	AuthMount string `json:"auth_mount,omitempty"`
}

// The variables that name a Reference without a profile, as the --vault-*
// flags do.
const (
	EnvPath      = "DT_VAULT_PATH"
	EnvRole      = "DT_VAULT_ROLE"
	EnvJWTFile   = "DT_VAULT_JWT_FILE"
	EnvAuthMount = "DT_VAULT_AUTH_MOUNT"
)

// EnvNames are the variables of a Reference, in its fields' order.
func EnvNames() []string { return []string{EnvPath, EnvRole, EnvJWTFile, EnvAuthMount} }

// FromEnv is the Reference the DT_VAULT_* variables getenv reads name.
func FromEnv(getenv func(string) string) Reference {
	return Reference{Path: getenv(EnvPath), Role: getenv(EnvRole), JWTFile: getenv(EnvJWTFile), AuthMount: getenv(EnvAuthMount)}
}

// Environ is r as the DT_VAULT_* variables (NAME=value) that [FromEnv]
// reads back: the path always, the other fields when set.
func (r Reference) Environ() []string {
	env := []string{EnvPath + "=" + r.Path}
	for i, v := range []string{r.Role, r.JWTFile, r.AuthMount} {
		if v != "" {
			env = append(env, EnvNames()[i+1]+"="+v)
		}
	}
	return env
}

// Check refuses a Reference Vault would not serve, before anything is
// asked (see [CheckReference]), and returns its path as it is read.
func (r Reference) Check() (string, error) { return CheckReference(r.Path, r.JWTFile, r.Role) }

// DefaultAuthMount is where Vault's JWT auth method is usually enabled.
const DefaultAuthMount = "jwt"

// AuthMount is a JWT auth method mount as it is used: without leading or
// trailing slashes, [DefaultAuthMount] when none is given.
func AuthMount(mount string) string { return cmp.Or(strings.Trim(mount, "/"), DefaultAuthMount) }

// TokenPath is a token path as it is read: "dt/token/prod" for
// " /dt/token/prod/ ".
func TokenPath(path string) string { return strings.Trim(strings.TrimSpace(path), "/") }

// CheckReference refuses a token path reference Vault would not serve,
// before anything is asked: no path, a path given with Vault's /v1/ prefix,
// or a JWT file without a role (or a role without one). It returns the path
// as it is read ([TokenPath]).
func CheckReference(path, jwtFile, role string) (string, error) {
	path = TokenPath(path)
	switch {
	case path == "":
		return "", errors.New("vault: no token path given (such as dt/token/prod)")
	case strings.HasPrefix(path, "v1/"):
		return path, fmt.Errorf("vault: path %q must not start with v1/: give it as for `vault read`, such as dt/token/prod", path)
	case (jwtFile == "") != (role == ""):
		return path, errors.New("vault: a JWT login needs both a JWT file and a role")
	}
	return path, nil
}
