//go:build unix

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
)

// TestExecChildGetsNoSecretNorPointer: the command's environment holds no
// secret and no variable naming where one is: not the DT secret, not the
// credentials file that holds it, not the JWT file of a Vault login, not a
// Vault token, whichever of them the account came from. The command, run
// for real, prints its environment with env.
func TestExecChildGetsNoSecretNorPointer(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	dir := t.TempDir()
	credFile := filepath.Join(dir, "credentials.json")
	data, err := json.Marshal(map[string]any{"serviceAccount": map[string]string{
		"keyId": testAccount.KeyID, "email": testAccount.Email, "secret": testAccount.Secret, "tokenEndpoint": idp.TokenURL(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(credFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// A Vault token the user has for other work: with a DT account it
	// mints nothing here, and still the command does not get it.
	pointers := []string{"VAULT_TOKEN=hvs.exec-test-vault-token"}
	tests := []struct {
		name string
		env  []string
	}{
		{"secret in the environment", withEnv(baseEnv(t, idp.TokenURL()), append(pointers, "DT_CREDENTIALS_FILE="+credFile)...)},
		{"secret in the credentials file", withEnv(
			withoutEnv(baseEnv(t, idp.TokenURL()), "DT_SERVICE_ACCOUNT_SECRET", "DT_SERVICE_ACCOUNT_KEY_ID", "DT_SERVICE_ACCOUNT_EMAIL", "DT_TOKEN_ENDPOINT"),
			append(pointers, "DT_CREDENTIALS_FILE="+credFile)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runBinary(t, tt.env, "", "exec", "--", "env")
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			got := map[string]string{}
			for line := range strings.Lines(r.stdout) {
				if k, v, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "="); ok {
					got[k] = v
				}
			}
			for _, k := range withheldFromExec() {
				if v, ok := got[k]; ok {
					t.Errorf("the command's environment has %s (%d bytes)", k, len(v))
				}
			}
			if !idp.Valid(got["DT_ACCESS_TOKEN"]) {
				t.Error("the command lacks a valid DT_ACCESS_TOKEN")
			}
		})
	}
}

// withheldFromExec are the variables no command run by exec may see.
func withheldFromExec() []string {
	return []string{"DT_SERVICE_ACCOUNT_SECRET", "DT_CREDENTIALS_FILE", "DT_VAULT_JWT_FILE", "VAULT_TOKEN"}
}

// TestVaultExecWithholdsJWTFile: exec with a Vault account read through a
// JWT login (the Kubernetes way) hands the command a DT token, not the JWT
// file that logs in to Vault, nor a Vault token it had. A real OpenBao
// server mints the tokens from the emulator.
func TestVaultExecWithholdsJWTFile(t *testing.T) {
	f := newVaultFleet(t)
	const sub = "system:serviceaccount:gateways:collector"
	jwtAuth := f.srv.EnableJWT(t, "fleet", sub, "dt-prod")
	jwtFile := filepath.Join(t.TempDir(), "token")
	jwtAuth.WriteJWT(t, jwtFile, sub)
	env := withEnv(f.env, "DT_VAULT_PATH=dt/token/prod", "DT_VAULT_ROLE=fleet", "DT_VAULT_JWT_FILE="+jwtFile,
		"VAULT_TOKEN="+f.vaultToken(t, "dt-prod"))

	r := runBinary(t, env, "", "exec", "--", "env")
	if r.code != 0 {
		t.Fatalf("exec: exit %d, stderr %q", r.code, r.stderr)
	}
	got := map[string]string{}
	for line := range strings.Lines(r.stdout) {
		if k, v, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "="); ok {
			got[k] = v
		}
	}
	for _, k := range withheldFromExec() {
		if v, ok := got[k]; ok {
			t.Errorf("the command's environment has %s (%d bytes)", k, len(v))
		}
	}
	if !f.idp.Valid(got["DT_ACCESS_TOKEN"]) {
		t.Error("the command lacks a valid DT_ACCESS_TOKEN")
	}
	if got["DT_VAULT_PATH"] != "dt/token/prod" {
		t.Errorf("the command's DT_VAULT_PATH = %q, want it kept: it names no secret", got["DT_VAULT_PATH"])
	}
}
