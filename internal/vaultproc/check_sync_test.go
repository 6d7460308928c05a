package vaultproc

import (
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken"
)

// TestCheckMatchesVaultToken keeps Check, a copy made so that the helper
// need not link Vault's client, in step with the checks of
// vaulttoken.NewSource: the same references refused, with the same words.
// (Test code may link the client; the helper's binary does not.)
func TestCheckMatchesVaultToken(t *testing.T) {
	for _, v := range []profile.Vault{
		{Path: "dt/token/prod"},
		{Path: " /dt/token/prod/ "},
		{Path: ""},
		{Path: "  / "},
		{Path: "v1/dt/token/prod"},
		{Path: "/v1/dt/token/prod"},
		{Path: "dt/token/prod", Role: "fleet"},
		{Path: "dt/token/prod", JWTFile: "/var/run/jwt"},
		{Path: "dt/token/prod", Role: "fleet", JWTFile: "/var/run/jwt", AuthMount: "k8s"},
	} {
		got := Check(v)
		_, want := vaulttoken.NewSource(vaulttoken.Config{Path: v.Path, Role: v.Role, JWTFile: v.JWTFile, AuthMount: v.AuthMount})
		if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
			t.Errorf("%+v: Check = %v, vaulttoken.NewSource = %v", v, got, want)
		}
	}
}
