package tokens

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// vaultIdentity is who reads v's tokens from Vault, as the Vault client
// will present itself (vaulttoken's setup), worked out without running it
// or asking Vault, under the cache key key:
//
//   - a JWT login: the JWT's issuer, subject and audience, with the role
//     and auth mount (a rotated JWT of the same subject is the same
//     identity); a JWT that cannot be read is none, and one that cannot be
//     decoded, has no subject or has expired is itself the identity, so
//     that Vault, which would refuse it, decides;
//   - otherwise the Vault token, from VAULT_TOKEN or else ~/.vault-token;
//   - otherwise, with VAULT_AGENT_ADDR, that agent (a Vault Agent with
//     auto-auth adds its own token to what it forwards);
//   - otherwise none: no cached token is served, and the read reports the
//     missing Vault token as on a cold cache.
//
// It reads at most one small file.
func vaultIdentity(v vaultenv.Reference, getenv func(string) string, key string, now time.Time) keyring.Identity {
	if v.JWTFile != "" {
		// The client drops any Vault token of the environment for a login.
		return jwtIdentity(v, key, now)
	}
	if tok, ok := vaultToken(getenv); ok {
		return keyring.NewIdentity(key, "vault token", tok)
	}
	if agent := getenv("VAULT_AGENT_ADDR"); agent != "" {
		return keyring.NewIdentity(key, "vault agent", agent)
	}
	return keyring.NoIdentity()
}

// vaultToken is the Vault token the Vault client will use: VAULT_TOKEN, or
// else the one `vault login` left in ~/.vault-token, read as the client
// reads it (vaultenv.TokenFile). ok is false when there is none that can be
// read.
func vaultToken(getenv func(string) string) (tok string, ok bool) {
	if tok := getenv("VAULT_TOKEN"); tok != "" {
		return tok, true
	}
	tok, err := vaultenv.TokenFile(getenv)
	return tok, err == nil
}

// jwtIdentity is the identity of v's JWT login (see vaultIdentity). The JWT
// is decoded, not verified: Vault verifies it at the login that fills the
// cache, and a caller able to forge the file could read the cache anyway.
func jwtIdentity(v vaultenv.Reference, key string, now time.Time) keyring.Identity {
	jwt, err := vaultenv.ReadJWT(v.JWTFile)
	if err != nil || jwt == "" {
		return keyring.NoIdentity()
	}
	mount := vaultenv.AuthMount(v.AuthMount)
	claims, ok := jwtClaims(jwt)
	if !ok || claims.Sub == "" || (claims.Exp != nil && !time.Unix(int64(*claims.Exp), 0).After(now)) {
		// Only Vault can say what this JWT is worth: it is its own
		// identity, which no other JWT presents.
		return keyring.NewIdentity(key, "jwt", jwt, v.Role, mount)
	}
	return keyring.NewIdentity(key, "jwt claims", claims.Iss, claims.Sub, string(claims.Aud), v.Role, mount)
}

// claims are the JWT claims that say whose it is. Aud stays raw JSON: a
// string or a list, compared as the issuer wrote it.
type claims struct {
	Iss string          `json:"iss"`
	Sub string          `json:"sub"`
	Aud json.RawMessage `json:"aud"`
	Exp *float64        `json:"exp"`
}

// jwtClaims decodes the claims of a compact JWS, unverified.
func jwtClaims(jwt string) (claims, bool) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return claims{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return claims{}, false
	}
	var c claims
	if json.Unmarshal(payload, &c) != nil {
		return claims{}, false
	}
	return c, true
}
