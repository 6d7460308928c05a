//go:build unix

package vaulttoken

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil/baotest"
)

// TestIdentity: against a real OpenBao server, Identity says who a Source
// reads as (the Vault token's lookup, or a JWT login's) and whether its
// policies allow reading the path, without reading a DT token and without
// the Vault token or the JWT in what it returns; a revoked token is
// Denied, saying Vault refuses the token.
func TestIdentity(t *testing.T) {
	srv := baotest.Start(t, baotest.Options{})
	srv.CLI(t, `path "dt/token/prod" { capabilities = ["read"] }`, "policy", "write", "dt-prod", "-")
	srv.CLI(t, `path "dt/token/other" { capabilities = ["read"] }`, "policy", "write", "dt-other", "-")
	const sub = "system:serviceaccount:gateways:collector"
	jwtAuth := srv.EnableJWT(t, "fleet", sub, "dt-prod")
	jwtFile := filepath.Join(t.TempDir(), "jwt")
	jwtAuth.WriteJWT(t, jwtFile, sub)
	vaultToken := func(policy string) string {
		return strings.TrimSpace(srv.CLI(t, "", "token", "create", "-field=token", "-ttl=5m", "-display-name=doctor-test", "-policy="+policy))
	}
	revoked := vaultToken("dt-prod")
	srv.CLI(t, "", "token", "revoke", revoked)

	for _, c := range []struct {
		name     string
		token    string // "" for the JWT login
		canRead  bool
		policy   string
		denied   bool
		loggedIn bool
	}{
		{name: "a token allowed the path", token: vaultToken("dt-prod"), canRead: true, policy: "dt-prod"},
		{name: "a token allowed another path", token: vaultToken("dt-other"), policy: "dt-other"},
		{name: "a JWT login", canRead: true, policy: "dt-prod", loggedIn: true},
		{name: "a revoked token", token: revoked, denied: true},
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
			if c.token == "" {
				cfg.JWTFile, cfg.Role = jwtFile, "fleet"
			} else {
				client.SetToken(c.token)
			}
			src, err := NewSource(cfg)
			if err != nil {
				t.Fatal(err)
			}
			id, err := src.Identity(t.Context())
			var e *Error
			if c.denied {
				if !errors.As(err, &e) || e.Kind != Denied || !strings.Contains(err.Error(), "refuses this Vault token") {
					t.Errorf("a revoked token: %v; want Denied, saying Vault refuses the token", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !id.Initialized || id.Sealed || id.Version == "" || id.Addr != srv.Addr || id.Path != "dt/token/prod" {
				t.Errorf("health and place: %+v", id)
			}
			if id.CanRead() != c.canRead || !slices.Contains(id.Policies, c.policy) || id.LoggedIn != c.loggedIn {
				t.Errorf("identity %+v: want CanRead %v, policy %s, LoggedIn %v", id, c.canRead, c.policy, c.loggedIn)
			}
			if c.token != "" && (id.DisplayName != "token-doctor-test" || id.TTLSeconds <= 0 || id.TTLSeconds > 300) {
				t.Errorf("the token's lookup: %+v; want its display name and about 5m left", id)
			}
			b, _ := json.Marshal(id)
			for _, secret := range []string{c.token, strings.TrimSpace(mustRead(t, jwtFile))} {
				if secret != "" && strings.Contains(string(b), secret) {
					t.Errorf("the identity holds a credential: %s", b)
				}
			}
		})
	}
	if n := srv.CountAudit(t, "request", "dt/token/prod"); n != 0 {
		t.Errorf("Identity read the token path %d times, want none", n)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
