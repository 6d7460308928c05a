//go:build unix

package vaultproc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// TestIdentityReply: the child is run with the identity subcommand, and
// its answer comes back as it was written: the identity, a failure of its
// kind with what was learnt before it, or, for what is not an answer, an
// error that quotes none of it.
func TestIdentityReply(t *testing.T) {
	ask := func(t *testing.T, script string) (vaultenv.Identity, error) {
		t.Helper()
		src, err := NewSource(Config{Vault: vaultenv.Reference{Path: "dt/token/prod"}, Program: child(t, script)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return src.Identity(ctx)
	}
	t.Run("identity", func(t *testing.T) {
		id, err := ask(t, `[ "$*" = `+IdentitySubcommand+` ] || exit 9
echo '{"identity":{"addr":"https://vault.example:8200","path":"dt/token/prod","initialized":true,"policies":["dt-prod"],"capabilities":["read"]}}'`)
		if err != nil || id.Addr != "https://vault.example:8200" || !id.CanRead() || id.Policies[0] != "dt-prod" {
			t.Errorf("got %+v, %v", id, err)
		}
	})
	t.Run("a failure after the health check", func(t *testing.T) {
		id, err := ask(t, `echo '{"identity":{"initialized":true,"sealed":false,"version":"2.6.2"},"error":{"message":"vault: refuses this Vault token","kind":"permission"}}'`)
		var e *Error
		if !errors.As(err, &e) || e.Kind != Permission || e.Error() != "vault: refuses this Vault token" || id.Version != "2.6.2" {
			t.Errorf("got %+v, %v; want the health and a permission error", id, err)
		}
	})
	for name, script := range map[string]string{
		"garbage":     `echo 'tok-Zq81 is not json'`,
		"no identity": `echo '{}'`,
		"nothing":     `exit 3`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ask(t, script)
			var e *Error
			if !errors.As(err, &e) || e.Kind != Other || strings.Contains(err.Error(), "tok-Zq81") {
				t.Errorf("got %v, want an error of kind other quoting nothing", err)
			}
		})
	}
}
