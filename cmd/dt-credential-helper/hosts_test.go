package main

import (
	"os"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
)

// TestProfileHosts: the DT hosts get the default account's tokens, and a host
// a profile names gets that profile's, through the git and docker protocols.
// Two emulators stand in for two DT identity services, one per account.
func TestProfileHosts(t *testing.T) {
	needKeyringSession(t)
	defaultIdP := authtest.NewServer(testAccount)
	defer defaultIdP.Close()
	stagingAcct := authtest.Account{KeyID: uniqueName("staging-"), Email: "staging@project.serviceaccount.d21s.com", Secret: testSecret + "-staging"}
	stagingIdP := authtest.NewServer(stagingAcct)
	defer stagingIdP.Close()

	env := withEnv(baseEnv(t, defaultIdP.TokenURL()),
		"DT_TOKEN_CACHE=file",
		"DBUS_SESSION_BUS_ADDRESS="+os.Getenv("DBUS_SESSION_BUS_ADDRESS"))
	name := uniqueName("staging")
	t.Cleanup(func() { secretToolClear(profile.SecretKey(name)) })
	r := runBinary(t, env, stagingAcct.Secret+"\n", "login", "--profile", name,
		"--key-id", stagingAcct.KeyID, "--email", stagingAcct.Email,
		"--token-endpoint", stagingIdP.TokenURL(), "--hosts", "registry.staging.example:5000")
	if r.code != 0 {
		t.Fatalf("login: exit %d: %s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, stagingAcct.Secret) {
		t.Fatal("login output shows the profile's secret")
	}

	git := func(host string) string { return gitPassword(t, env, host) }
	if tok := git("api.d21s.com"); !defaultIdP.Valid(tok) || stagingIdP.Valid(tok) {
		t.Errorf("api.d21s.com did not get the default account's token")
	}
	if tok := git("registry.staging.example:5000"); !stagingIdP.Valid(tok) || defaultIdP.Valid(tok) {
		t.Errorf("the profile's host did not get the profile's token")
	}
	if tok := git("registry.staging.example"); tok != "" {
		t.Errorf("the profile's host on another port got a token")
	}
	d := runBinary(t, env, "https://registry.staging.example:5000/v2/", "docker", "get")
	if d.code != 0 || !strings.Contains(d.stdout, `"Username":"oauth2accesstoken"`) {
		t.Fatalf("docker get: exit %d, stdout %q", d.code, d.stdout)
	}
	if defaultIdP.Requests() != 1 || stagingIdP.Requests() != 2 { // login's check, then one token
		t.Errorf("token requests: default %d (want 1), staging %d (want 2)", defaultIdP.Requests(), stagingIdP.Requests())
	}
}

// TestProfileListsDTHost: a DT host that a profile lists with `login --hosts`
// gets that profile's token; the other DT hosts keep the default account's.
func TestProfileListsDTHost(t *testing.T) {
	needKeyringSession(t)
	defaultIdP := authtest.NewServer(testAccount)
	defer defaultIdP.Close()
	prodAcct := authtest.Account{KeyID: uniqueName("prod-"), Email: "prod@project.serviceaccount.d21s.com", Secret: testSecret + "-prod"}
	prodIdP := authtest.NewServer(prodAcct)
	defer prodIdP.Close()

	env := withEnv(baseEnv(t, defaultIdP.TokenURL()),
		"DT_TOKEN_CACHE=file",
		"DBUS_SESSION_BUS_ADDRESS="+os.Getenv("DBUS_SESSION_BUS_ADDRESS"))
	name := uniqueName("prod")
	t.Cleanup(func() { secretToolClear(profile.SecretKey(name)) })
	r := runBinary(t, env, prodAcct.Secret+"\n", "login", "--profile", name, "--no-verify",
		"--key-id", prodAcct.KeyID, "--email", prodAcct.Email,
		"--token-endpoint", prodIdP.TokenURL(), "--hosts", "api.d21s.com")
	if r.code != 0 {
		t.Fatalf("login: exit %d: %s", r.code, r.stderr)
	}
	password := func(host string) string { return gitPassword(t, env, host) }
	if tok := password("api.d21s.com"); !prodIdP.Valid(tok) {
		t.Errorf("api.d21s.com, listed by profile %s, did not get that profile's token", name)
	}
	if tok := password("api.disruptive-technologies.com"); !defaultIdP.Valid(tok) {
		t.Errorf("api.disruptive-technologies.com did not get the default account's token")
	}
}

// gitPassword is the password `git get` answers for https://host, "" for
// none.
func gitPassword(t *testing.T, env []string, host string) string {
	t.Helper()
	r := runBinary(t, env, "protocol=https\nhost="+host+"\n\n", "git", "get")
	if r.code != 0 {
		t.Fatalf("git get %s: exit %d: %s", host, r.code, r.stderr)
	}
	for _, l := range strings.Split(r.stdout, "\n") {
		if v, ok := strings.CutPrefix(l, "password="); ok {
			return v
		}
	}
	return ""
}
