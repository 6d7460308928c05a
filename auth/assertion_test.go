package auth

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
)

func TestAssertion(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	c := Credentials{KeyID: "kid-1", Email: "sa@project.serviceaccount.d21s.com", Secret: "s3cret-value", TokenEndpoint: DefaultTokenEndpoint}
	s, err := Assertion(c, now)
	if err != nil {
		t.Fatal(err)
	}
	var claims jwt.MapClaims
	tok, err := jwt.ParseWithClaims(s, &claims, func(tok *jwt.Token) (any, error) { return []byte(c.Secret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		t.Fatalf("parsing the assertion: %v", err)
	}
	wantHeader := map[string]any{"alg": "HS256", "kid": "kid-1", "typ": "JWT"}
	if diff := cmp.Diff(wantHeader, tok.Header); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	// As documented (docs/clock-skew.md): iat five seconds back, exp an hour on.
	iat := now.Add(-5 * time.Second).Unix()
	wantClaims := jwt.MapClaims{
		"iat": float64(iat),
		"exp": float64(iat + 3600),
		"aud": DefaultTokenEndpoint,
		"iss": c.Email,
	}
	if diff := cmp.Diff(wantClaims, claims); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	if back := now.Unix() - iat; back <= 0 || back > 30 {
		t.Errorf("iat is back-dated by %ds, want a few seconds", back)
	}
	// A different secret must not verify.
	if _, err := jwt.Parse(s, func(*jwt.Token) (any, error) { return []byte("other"), nil }); !errors.Is(err, jwt.ErrSignatureInvalid) {
		t.Error("assertion verified with the wrong secret")
	}
}
