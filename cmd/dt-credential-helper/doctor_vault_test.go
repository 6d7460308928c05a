//go:build unix

package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/internal/doctor"
)

// TestDoctorVault: for a Vault profile, against a real OpenBao server with
// the DT engine (minting from the emulator), doctor says Vault is healthy,
// who the machine is to it and that it may read the path, and fetches a
// token through it; a Vault token whose policies allow another path, a
// revoked one, a JWT login, and a Vault that cannot be reached are each
// told apart, with their fixes.
func TestDoctorVault(t *testing.T) {
	f := newVaultFleet(t)
	login := withEnv(f.env, "VAULT_TOKEN="+f.vaultToken(t, "dt-prod"))
	if r := runFor(t, runLimit, login, "", "login", "--profile", "fleet", "--vault-path", "dt/token/prod"); r.code != 0 {
		t.Fatalf("login: exit %d: %s", r.code, r.stderr)
	}
	doctorWith := func(t *testing.T, env []string) doctor.Report {
		t.Helper()
		r := runFor(t, runLimit, env, "", "doctor", "-o", "json", "--timeout", "10s")
		if vt := envValue(env, "VAULT_TOKEN"); vt != "" && strings.Contains(r.stdout+r.stderr, vt) {
			t.Errorf("doctor shows the Vault token:\n%s%s", r.stdout, r.stderr)
		}
		for _, tok := range f.idp.Tokens() {
			if strings.Contains(r.stdout+r.stderr, tok.Token) {
				t.Errorf("doctor shows a DT token:\n%s%s", r.stdout, r.stderr)
			}
		}
		return doctorReport(t, r)
	}

	t.Run("a token allowed the path", func(t *testing.T) {
		rep := doctorWith(t, login)
		wantCheck(t, rep, "account", "fleet", doctor.Pass, "dt/token/prod")
		wantCheck(t, rep, "vault", "fleet", doctor.Pass, f.srv.Addr, "unsealed")
		wantCheck(t, rep, "vault-identity", "fleet", doctor.Pass, "the Vault token of the environment", "dt-prod", "may read dt/token/prod")
		wantCheck(t, rep, "token", "fleet", doctor.Pass, "from the Vault path dt/token/prod")
		wantCheck(t, rep, "plugin-program", "", doctor.Pass)
	})
	t.Run("a token allowed another path", func(t *testing.T) {
		rep := doctorWith(t, withEnv(f.env, "VAULT_TOKEN="+f.vaultToken(t, "dt-other")))
		wantCheck(t, rep, "vault", "fleet", doctor.Pass)
		wantCheck(t, rep, "vault-identity", "fleet", doctor.Fail, "dt-other", "without read", "policy that allows read on dt/token/prod")
		wantCheck(t, rep, "token", "fleet", doctor.Fail, "permission denied")
	})
	t.Run("a revoked token", func(t *testing.T) {
		revoked := f.vaultToken(t, "dt-prod")
		f.srv.CLI(t, "", "token", "revoke", revoked)
		rep := doctorWith(t, withEnv(f.env, "VAULT_TOKEN="+revoked))
		wantCheck(t, rep, "vault-identity", "fleet", doctor.Fail, "refuses this Vault token", "log in to Vault again")
	})
	t.Run("a JWT login", func(t *testing.T) {
		const sub = "system:serviceaccount:gateways:doctor"
		jwtAuth := f.srv.EnableJWT(t, "fleet", sub, "dt-prod")
		jwtFile := filepath.Join(f.home, "jwt")
		jwtAuth.WriteJWT(t, jwtFile, sub)
		env := withEnv(f.env, "DT_VAULT_PATH=dt/token/prod", "DT_VAULT_ROLE=fleet", "DT_VAULT_JWT_FILE="+jwtFile)
		rep := doctorWith(t, env)
		wantCheck(t, rep, "vault-identity", "(environment)", doctor.Pass, "a JWT login as role fleet", "may read dt/token/prod")
		wantCheck(t, rep, "token", "(environment)", doctor.Pass)
	})
	t.Run("Vault unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close() // nothing listens there now
		rep := doctorWith(t, withEnv(login, "VAULT_ADDR=http://"+addr))
		wantCheck(t, rep, "vault", "fleet", doctor.Fail, addr, "reachable")
	})
}
