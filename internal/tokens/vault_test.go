package tokens

import (
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// Each Vault, namespace, path and identity has its own cache entry, and
// none is a DT account's.
func TestVaultAccountsNeverShareAnEntry(t *testing.T) {
	base := map[string]string{"VAULT_ADDR": "https://vault.example:8200"}
	v := vaultenv.Reference{Path: "dt/token/prod"}
	cases := []struct {
		name string
		v    vaultenv.Reference
		env  map[string]string
	}{
		{"base", v, base},
		{"other address", v, map[string]string{"VAULT_ADDR": "https://vault2.example:8200"}},
		{"agent address", v, map[string]string{"VAULT_ADDR": "https://vault.example:8200", "VAULT_AGENT_ADDR": "http://127.0.0.1:8100"}},
		{"namespace", v, map[string]string{"VAULT_ADDR": "https://vault.example:8200", "VAULT_NAMESPACE": "team/"}},
		{"other path", vaultenv.Reference{Path: "dt/token/staging"}, base},
		{"role", vaultenv.Reference{Path: "dt/token/prod", Role: "fleet", JWTFile: "/jwt"}, base},
		{"role at another mount", vaultenv.Reference{Path: "dt/token/prod", Role: "fleet", JWTFile: "/jwt", AuthMount: "k8s"}, base},
	}
	keys := map[string]string{keyring.Key(auth.DefaultTokenEndpoint, "dt/token/prod", "vault token"): "a DT account"}
	for _, tc := range cases {
		a := VaultAccount(tc.v, mapEnv(tc.env))
		if !strings.HasPrefix(a.Endpoint, vaultScheme) {
			t.Errorf("%s: %+v is not a Vault account", tc.name, a)
		}
		k := a.Key()
		if other, ok := keys[k]; ok {
			t.Errorf("%s shares its cache entry with %s", tc.name, other)
		}
		keys[k] = tc.name
	}
	// Spellings of the same path are the same entry.
	a := VaultAccount(vaultenv.Reference{Path: " /dt/token/prod/ "}, mapEnv(map[string]string{"VAULT_ADDR": "https://vault.example:8200/"}))
	if want := "vault:https://vault.example:8200/v1/dt/token/prod"; a.Endpoint != want || a.KeyID != "dt/token/prod" {
		t.Errorf("account %+v, want endpoint %s", a, want)
	}
	// A namespace is a path prefix to Vault.
	a = VaultAccount(v, mapEnv(map[string]string{"VAULT_NAMESPACE": "team"}))
	if want := "vault:https://127.0.0.1:8200/v1/team/dt/token/prod"; a.Endpoint != want {
		t.Errorf("endpoint %s, want %s", a.Endpoint, want)
	}
}

func TestVaultSettings(t *testing.T) {
	env := map[string]string{vaultenv.EnvPath: "dt/token/env", vaultenv.EnvRole: "envrole", vaultenv.EnvJWTFile: "/env.jwt"}
	prof := &vaultenv.Reference{Path: "dt/token/prof"}
	for _, tc := range []struct {
		name    string
		profile string
		prof    *vaultenv.Reference
		flags   vaultenv.Reference
		dt      auth.Settings
		env     map[string]string
		want    vaultenv.Reference // Path "" for not Vault
		err     string
	}{
		{name: "none", env: map[string]string{}},
		{name: "environment", env: env, want: vaultenv.Reference{Path: "dt/token/env", Role: "envrole", JWTFile: "/env.jwt"}},
		{name: "flags over environment", env: env, flags: vaultenv.Reference{Path: "dt/token/flag"}, want: vaultenv.Reference{Path: "dt/token/flag", Role: "envrole", JWTFile: "/env.jwt"}},
		{name: "a Vault profile ignores the environment", profile: "fleet", prof: prof, env: env, want: *prof},
		{name: "a DT profile ignores the environment", profile: "prod", env: env},
		{name: "a DT profile refuses --vault-path", profile: "prod", flags: vaultenv.Reference{Path: "dt/token/x"}, err: "DT service account profile"},
		{name: "a DT account and a path", env: env, dt: auth.Settings{KeyID: "k"}, err: "not both"},
		{name: "a role without a path", env: map[string]string{vaultenv.EnvRole: "r"}, err: "without a Vault path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Getenv: mapEnv(tc.env), Vault: tc.flags, Settings: tc.dt}
			got, ok, err := vaultSettings(cfg, tc.profile, tc.prof)
			if tc.err != "" {
				if !misconfig.Is(err) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want a configuration error containing %q", err, tc.err)
				}
				return
			}
			if err != nil || ok != (tc.want.Path != "") || (ok && got != tc.want) {
				t.Fatalf("got %+v, %v, %v; want %+v", got, ok, err, tc.want)
			}
		})
	}
}

// A password in VAULT_ADDR is never part of the account a cache entry
// records, status shows and --verbose logs.
func TestVaultAccountDropsUserInfo(t *testing.T) {
	a := VaultAccount(vaultenv.Reference{Path: "dt/token/prod"}, mapEnv(map[string]string{"VAULT_ADDR": "https://user:hunter2@vault.example:8200"}))
	if strings.Contains(a.Endpoint, "hunter2") || strings.Contains(a.Endpoint, "user") {
		t.Errorf("endpoint %q holds the address's user information", a.Endpoint)
	}
}
