package auth

import (
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// AssertionLifetime is exp - iat of an assertion, DT's maximum.
	AssertionLifetime = time.Hour
	// assertionBackdate moves iat back for a server clock slightly behind ours,
	// as DT's own Go client does.
	assertionBackdate = 5 * time.Second
)

// Assertion signs the JWT that the token endpoint exchanges for an access
// token: header {"alg":"HS256","kid":KeyID,"typ":"JWT"}, claims iat (now, back-
// dated a few seconds), exp (iat + one hour), aud (the token endpoint exactly)
// and iss (the email). The result is itself a credential: never log it.
func Assertion(c Credentials, now time.Time) (string, error) {
	iat := now.Add(-assertionBackdate).Unix()
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iat": iat,
		"exp": iat + int64(AssertionLifetime/time.Second),
		"aud": c.TokenEndpoint,
		"iss": c.Email,
	})
	t.Header["kid"] = c.KeyID
	s, err := t.SignedString([]byte(c.Secret))
	if err != nil {
		// SignedString fails only on an empty key or a broken signer; its
		// message never contains the key.
		return "", fmt.Errorf("signing the assertion for key id %s: %w", c.KeyID, err)
	}
	return s, nil
}
