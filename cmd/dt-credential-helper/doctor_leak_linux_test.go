//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// TestDoctorShowsNoSecret: with a known secret in every place one can be
// (the environment, a credentials file, a profile's secret file, a
// profile's Secret Service entry, a Vault token in the environment and a
// JWT in a Vault profile's file, a proxy's password, a kubeconfig's exec
// environment) and
// tokens cached in every store (the kernel keyring, the Secret Service,
// files), doctor, in both forms and with --verbose, prints none of them,
// nor any token the emulator issued, including the ones it fetches.
func TestDoctorShowsNoSecret(t *testing.T) {
	needKernelKeyring(t)
	const (
		fileSecret    = "doctor-file-secret-Qm3v"
		keyringSecret = "doctor-keyring-secret-Zp8w"
		credsSecret   = "doctor-credsfile-secret-Hy5k"
		vaultToken    = "hvs.doctor-vault-token-Rt6c"
		jwtContent    = "doctor-jwt-content-Wd2n"
		proxyPassword = "doctor-proxy-pa55-Kc9x"
	)
	keyed := uniqueName("keyed-")
	accounts := []authtest.Account{
		testAccount,
		{KeyID: uniqueName("filed-"), Email: testAccount.Email, Secret: fileSecret},
		{KeyID: keyed, Email: testAccount.Email, Secret: keyringSecret},
		{KeyID: uniqueName("creds-"), Email: testAccount.Email, Secret: credsSecret},
	}
	srv := authtest.NewServer(accounts...)
	t.Cleanup(srv.Close)
	env := withEnv(baseEnv(t, srv.TokenURL()),
		"PATH="+helperLinks(t)+string(os.PathListSeparator)+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"DT_TOKEN_CACHE=", "XDG_RUNTIME_DIR="+t.TempDir(), "VAULT_TOKEN="+vaultToken,
		"HTTPS_PROXY=http://dtuser:"+proxyPassword+"@127.0.0.1:1", "KUBECONFIG="+filepath.Join(t.TempDir(), "kubeconfig"))
	home := envValue(env, "HOME")
	jwtFile := filepath.Join(home, "jwt")
	if err := os.WriteFile(jwtFile, []byte(jwtContent+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Two Vault profiles, one logging in with the JWT, one with
	// VAULT_TOKEN, at a "Vault" that is the emulator: it answers 404,
	// at once, to what Vault's client asks.
	env = withEnv(env, "VAULT_ADDR="+srv.URL)
	for _, args := range [][]string{
		{"login", "--profile", "fleet-jwt", "--vault-path", "dt/token/prod", "--vault-role", "fleet", "--vault-jwt-file", jwtFile, "--no-verify"},
		{"login", "--profile", "fleet-token", "--vault-path", "dt/token/prod", "--no-verify"},
	} {
		if r := runFor(t, runLimit, env, "", args...); r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
	}
	secrets := []string{testSecret, fileSecret, keyringSecret, credsSecret, vaultToken, jwtContent, proxyPassword}

	// A profile with its secret in a file, and, with a Secret Service, one
	// with its secret there.
	login := func(t *testing.T, env []string, a authtest.Account, name string, args ...string) {
		t.Helper()
		args = append([]string{"login", "--profile", name, "--key-id", a.KeyID, "--email", a.Email, "--token-endpoint", srv.TokenURL()}, args...)
		if r := runFor(t, runLimit, env, a.Secret+"\n", args...); r.code != 0 {
			t.Fatalf("login %s: exit %d: %s", name, r.code, r.stderr)
		}
	}
	login(t, env, accounts[1], "filed", "--store", "file")
	keyringSession := os.Getenv("DT_TEST_SECRET_SERVICE") == "1"
	if keyringSession {
		needKeyringSession(t)
		env = withEnv(env, "DBUS_SESSION_BUS_ADDRESS="+os.Getenv("DBUS_SESSION_BUS_ADDRESS"))
		t.Cleanup(func() { secretToolClear(profile.SecretKey(keyed)) })
		login(t, env, accounts[2], keyed)
	} else {
		env = withoutEnv(env, "DBUS_SESSION_BUS_ADDRESS")
		t.Log("no Secret Service session (scripts/keyring-session.sh): no secret or token is kept there")
	}
	creds := filepath.Join(home, "creds.json")
	if err := os.WriteFile(creds, []byte(`{"serviceAccount":{"keyId":"`+accounts[3].KeyID+`","email":"`+accounts[3].Email+`","secret":"`+credsSecret+`"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		cmd := exec.Command(kubectl, "config", "set-credentials", "leaky", "--exec-api-version=client.authentication.k8s.io/v1",
			"--exec-command="+prog, "--exec-arg=token", "--exec-env="+"DT_SERVICE_ACCOUNT_SECRET="+testSecret)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kubectl: %v: %s", err, out)
		}
	}

	// Tokens cached in every store: the kernel keyring (auto), files, the
	// Secret Service.
	for _, args := range [][]string{{"token"}, {"token", "--cache", "file"}, {"token", "--profile", "filed", "--cache", "file"}, {"token", "--profile", "filed"}} {
		if r := runFor(t, runLimit, env, "", args...); r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
	}
	if keyringSession {
		for _, args := range [][]string{{"token", "--cache", "keyring"}, {"token", "--profile", keyed, "--cache", "keyring"}} {
			if r := runFor(t, runLimit, env, "", args...); r.code != 0 {
				t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
			}
		}
		t.Cleanup(func() { secretToolClear(keyring.Key(srv.TokenURL(), testAccount.KeyID, testAccount.Email)) })
	}
	t.Cleanup(func() {
		for _, a := range accounts[:3] {
			keyring.NewKernelStore().Delete(keyring.Key(srv.TokenURL(), a.KeyID, a.Email))
		}
	})

	for _, args := range [][]string{
		{"doctor"},
		{"doctor", "-o", "json"},
		{"doctor", "--verbose"},
		{"doctor", "--verbose", "--credentials-file", creds, "--key-id", accounts[3].KeyID},
		{"doctor", "--cache", "file", "-o", "json", "--verbose"},
	} {
		r := runFor(t, runLimit, env, "", args...)
		if !strings.Contains(r.stdout, "token") {
			t.Fatalf("%v printed no report: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
		issued := srv.Tokens()
		if len(issued) < 4 {
			t.Fatalf("%d tokens issued, want one per account and store", len(issued))
		}
		for _, s := range secrets {
			if strings.Contains(r.stdout+r.stderr, s) {
				t.Errorf("%v shows a secret (%.12s…):\n%s\n%s", args, s, r.stdout, r.stderr)
			}
		}
		for _, tok := range issued {
			if strings.Contains(r.stdout+r.stderr, tok.Token) {
				t.Errorf("%v shows a token issued at %s:\n%s\n%s", args, tok.IssuedAt, r.stdout, r.stderr)
			}
		}
	}
}
