//go:build unix

package vaulttoken

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil/baotest"
)

// TestTokenExpiryCappedToVaultToken: against a real OpenBao server with the
// DT engine (minting from the identity emulator, which stands in for DT),
// a token read with a Vault token that Vault says expires sooner than the
// DT token is given that Vault token's expiry: from lookup-self for a
// token of the environment, from the login's lease for a JWT login. A
// token that may not look itself up, or never expires, leaves the DT
// token's expiry.
func TestTokenExpiryCappedToVaultToken(t *testing.T) {
	srv := baotest.Start(t, baotest.Options{})
	acct := authtest.Account{KeyID: "cap-key", Email: "cap@project.serviceaccount.d21s.com", Secret: "cap-secret-Zq7"}
	idp := authtest.NewServer(acct)
	t.Cleanup(idp.Close)
	srv.CLI(t, acct.Secret, "write", "dt/accounts/prod", "key_id="+acct.KeyID, "email="+acct.Email, "token_endpoint="+idp.TokenURL(), "secret=-")
	srv.CLI(t, `path "dt/token/prod" { capabilities = ["read"] }`, "policy", "write", "dt-prod", "-")
	const sub = "system:serviceaccount:gateways:collector"
	jwtAuth := srv.EnableJWT(t, "fleet", sub, "dt-prod") // token_ttl=10m
	jwtFile := filepath.Join(t.TempDir(), "jwt")
	jwtAuth.WriteJWT(t, jwtFile, sub)

	vaultToken := func(args ...string) string {
		return strings.TrimSpace(srv.CLI(t, "", append([]string{"token", "create", "-field=token", "-policy=dt-prod"}, args...)...))
	}
	for _, c := range []struct {
		name    string
		token   string // "" for the JWT login
		jwt     bool
		maxLeft time.Duration
		capped  bool
	}{
		{name: "a Vault token with 5m left", token: vaultToken("-ttl=5m"), maxLeft: 5 * time.Minute, capped: true},
		{name: "a JWT login with a 10m lease", jwt: true, maxLeft: 10 * time.Minute, capped: true},
		{name: "a Vault token that may not look itself up", token: vaultToken("-ttl=5m", "-no-default-policy"), maxLeft: authtest.DefaultTokenTTL},
		{name: "the root token, which never expires", token: baotest.RootToken, maxLeft: authtest.DefaultTokenTTL},
	} {
		t.Run(c.name, func(t *testing.T) {
			conf := api.DefaultConfig()
			conf.Address = srv.Addr
			conf.MaxRetries = 0
			client, err := api.NewClient(conf)
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{Path: "dt/token/prod", Client: client}
			if c.jwt {
				cfg.JWTFile, cfg.Role = jwtFile, "fleet"
			} else {
				client.SetToken(c.token)
			}
			src, err := NewSource(cfg)
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now()
			tok, err := src.TokenContext(t.Context())
			if err != nil || !idp.Valid(tok.AccessToken) {
				t.Fatalf("read: %v", err)
			}
			left := tok.Expiry.Sub(before)
			switch {
			case left > c.maxLeft+time.Second:
				t.Errorf("the token expires in %v, over the %v it may have", left.Round(time.Second), c.maxLeft)
			case c.capped && left < c.maxLeft-time.Minute:
				t.Errorf("the token expires in %v, well before the Vault token's %v", left.Round(time.Second), c.maxLeft)
			case !c.capped && left < c.maxLeft-time.Minute:
				t.Errorf("the token expires in %v: capped, though Vault named no expiry for this Vault token", left.Round(time.Second))
			}
			if want := int64(tok.Expiry.Sub(time.Now()) / time.Second); tok.ExpiresIn < want-2 || tok.ExpiresIn > want+2 {
				t.Errorf("expires_in %d does not match the expiry (%d)", tok.ExpiresIn, want)
			}
		})
	}
}
