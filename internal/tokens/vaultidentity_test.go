package tokens

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// testJWT is a compact JWS with claims; its signature is not one, as
// nothing here verifies it (Vault does, at the login).
func testJWT(t *testing.T, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"EdDSA","typ":"JWT"}`)) + "." + enc(payload) + "." + enc([]byte("signature"))
}

func writeFile(t *testing.T, path, data string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

// TestVaultIdentityOfAVaultToken: the identity is the Vault token the
// client will use, VAULT_TOKEN or else ~/.vault-token (a private file of
// ours), or else the agent VAULT_AGENT_ADDR names, or none.
func TestVaultIdentityOfAVaultToken(t *testing.T) {
	const key = "token-vault-test"
	now := time.Now()
	v := vaultenv.Reference{Path: "dt/token/prod"}
	home := t.TempDir()
	homeVar := "HOME"
	if runtime.GOOS == "windows" {
		homeVar = "USERPROFILE"
	}
	id := func(env map[string]string) keyring.Identity {
		env[homeVar] = home
		return vaultIdentity(v, mapEnv(env), key, now)
	}
	tokenA := id(map[string]string{"VAULT_TOKEN": "hvs.token-a"})
	if tokenA.None() || tokenA != id(map[string]string{"VAULT_TOKEN": "hvs.token-a"}) {
		t.Fatal("the same Vault token is not the same identity")
	}
	if tokenA == id(map[string]string{"VAULT_TOKEN": "hvs.token-b"}) {
		t.Error("two Vault tokens are the same identity")
	}
	if got := id(map[string]string{}); !got.None() {
		t.Error("no Vault token and no agent: an identity")
	}
	agent := id(map[string]string{"VAULT_AGENT_ADDR": "http://127.0.0.1:8100"})
	if agent.None() || agent == id(map[string]string{"VAULT_AGENT_ADDR": "http://127.0.0.1:8101"}) {
		t.Error("an agent without a token: none, or the same identity as another agent's")
	}

	file := filepath.Join(home, ".vault-token")
	writeFile(t, file, "hvs.token-a\n", 0o600)
	if got := id(map[string]string{}); got != tokenA {
		t.Error("~/.vault-token holding token a is not token a's identity")
	}
	if got := id(map[string]string{"VAULT_TOKEN": "hvs.token-b"}); got == tokenA {
		t.Error("VAULT_TOKEN does not come before ~/.vault-token")
	}
	if runtime.GOOS != "windows" {
		// A token file others can read, or a FIFO, is not ours to trust:
		// no identity, and no hang.
		writeFile(t, file, "hvs.token-a\n", 0o644)
		if got := id(map[string]string{}); !got.None() {
			t.Error("a ~/.vault-token others can read gives an identity")
		}
		os.Remove(file)
		mkfifo(t, file)
		if got := id(map[string]string{}); !got.None() {
			t.Error("a FIFO as ~/.vault-token gives an identity")
		}
	}
}

// TestVaultIdentityOfAJWT: a JWT login's identity is the JWT's issuer,
// subject and audience with the role and mount, so a rotated JWT of the
// same subject is the same identity and one of another subject is not; a
// JWT Vault would refuse (expired, undecodable, no subject) is an identity
// of its own; a JWT file that cannot be read is none.
func TestVaultIdentityOfAJWT(t *testing.T) {
	const key = "token-vault-test"
	now := time.Now()
	dir := t.TempDir()
	claims := func(sub string, iat time.Time) map[string]any {
		return map[string]any{"iss": "https://k8s.example", "sub": sub, "aud": "dt-fleet", "iat": iat.Unix(), "exp": iat.Add(time.Hour).Unix()}
	}
	n := 0
	id := func(jwt string, v vaultenv.Reference, env map[string]string) keyring.Identity {
		n++
		v.Path = "dt/token/prod"
		v.JWTFile = writeFile(t, filepath.Join(dir, "jwt-"+string(rune('a'+n))), jwt, 0o644)
		v.Role = cmp.Or(v.Role, "fleet")
		return vaultIdentity(v, mapEnv(env), key, now)
	}
	const sub = "system:serviceaccount:gateways:collector"
	base := id(testJWT(t, claims(sub, now)), vaultenv.Reference{}, nil)
	if base.None() {
		t.Fatal("a readable JWT gives no identity")
	}
	if got := id(testJWT(t, claims(sub, now.Add(-10*time.Minute))), vaultenv.Reference{}, map[string]string{"VAULT_TOKEN": "hvs.x"}); got != base {
		t.Error("a rotated JWT of the same subject (and a VAULT_TOKEN the login ignores) is another identity")
	}
	expired := testJWT(t, claims(sub, now.Add(-2*time.Hour)))
	noSub := testJWT(t, map[string]any{"iss": "https://k8s.example", "aud": "dt-fleet"})
	others := map[string]keyring.Identity{
		"another subject":    id(testJWT(t, claims("system:serviceaccount:other:intruder", now)), vaultenv.Reference{}, nil),
		"another issuer":     id(testJWT(t, map[string]any{"iss": "https://other.example", "sub": sub, "aud": "dt-fleet"}), vaultenv.Reference{}, nil),
		"another audience":   id(testJWT(t, map[string]any{"iss": "https://k8s.example", "sub": sub, "aud": "vault"}), vaultenv.Reference{}, nil),
		"another role":       id(testJWT(t, claims(sub, now)), vaultenv.Reference{Role: "other"}, nil),
		"another auth mount": id(testJWT(t, claims(sub, now)), vaultenv.Reference{AuthMount: "k8s"}, nil),
		"expired":            id(expired, vaultenv.Reference{}, nil),
		"no subject":         id(noSub, vaultenv.Reference{}, nil),
		"not a JWT":          id("not-a-jwt", vaultenv.Reference{}, nil),
	}
	for name, got := range others {
		if got.None() || got == base {
			t.Errorf("%s: none, or the identity of the first JWT", name)
		}
	}
	if id(expired, vaultenv.Reference{}, nil) != others["expired"] || id(noSub, vaultenv.Reference{}, nil) == id(noSub+"x", vaultenv.Reference{}, nil) {
		t.Error("a JWT Vault decides on is not exactly its own identity")
	}

	// Followed through a symlink, as a Kubernetes projected token is one.
	link := filepath.Join(dir, "link")
	if err := os.Symlink(writeFile(t, filepath.Join(dir, "target"), testJWT(t, claims(sub, now)), 0o600), link); err != nil {
		t.Fatal(err)
	}
	v := vaultenv.Reference{Path: "dt/token/prod", Role: "fleet", JWTFile: link}
	if got := vaultIdentity(v, mapEnv(nil), key, now); got != base {
		t.Error("a JWT behind a symlink is another identity")
	}
	for name, path := range map[string]string{"missing": filepath.Join(dir, "missing"), "empty": writeFile(t, filepath.Join(dir, "empty"), "\n", 0o600), "a directory": dir} {
		v.JWTFile = path
		if got := vaultIdentity(v, mapEnv(map[string]string{"VAULT_TOKEN": "hvs.x"}), key, now); !got.None() {
			t.Errorf("a JWT file that is %s gives an identity", name)
		}
	}
}

// TestResolveIdentity: an account of the environment presents its secret,
// a profile's DT account its cache nonce (profile.Account.CacheIdentity;
// its secret is not read), a Vault account its Vault identity; profiles of
// one service account, and the environment's secret, are each another
// identity, a profile saved before nonces too.
func TestResolveIdentity(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{"HOME": home, "DT_SERVICE_ACCOUNT_KEY_ID": "kid", "DT_SERVICE_ACCOUNT_EMAIL": "sa@p.serviceaccount.d21s.com", "DT_SERVICE_ACCOUNT_SECRET": "secret-a"}
	profiles := profile.NewRepository(mapEnv(env), 0, nil)
	err := profiles.Update(t.Context(), func(f *profile.File) (bool, error) {
		for name, nonce := range map[string]string{"p": strings.Repeat("1", 32), "q": strings.Repeat("2", 32), "old": "", "old2": ""} {
			f.Profiles[name] = profile.Profile{KeyID: "kid", Email: "sa@p.serviceaccount.d21s.com", SecretStore: profile.SecretInFile, CacheNonce: nonce}
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	resolveProfile := func(env map[string]string, vault vaultenv.Reference, name string) Account {
		t.Helper()
		cfg := Config{Getenv: mapEnv(env), Vault: vault, VaultUpstream: func(vaultenv.Reference) (keyring.Upstream, error) { return nil, nil }}
		a, err := Resolve(cfg, profiles, name)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	resolve := func(env map[string]string, vault vaultenv.Reference) Account {
		t.Helper()
		return resolveProfile(env, vault, "")
	}
	a := resolve(env, vaultenv.Reference{})
	if a.Cache.Identity != keyring.NewIdentity(a.Cache.Key(), "secret-a") {
		t.Error("the environment's account does not present its secret")
	}
	seen := map[keyring.Identity]string{a.Cache.Identity: "the environment's secret"}
	for _, name := range []string{"p", "q", "old", "old2"} {
		p := resolveProfile(env, vaultenv.Reference{}, name)
		pa, err := profiles.Account(name)
		if err != nil {
			t.Fatal(err)
		}
		if p.Cache.Key() != a.Cache.Key() || p.Cache.Identity != pa.CacheIdentity(p.Cache.Key()) {
			t.Errorf("profile %s: another account, or not the identity of its cache nonce", name)
		}
		if other, ok := seen[p.Cache.Identity]; ok || p.Cache.Identity == (keyring.Identity{}) {
			t.Errorf("profile %s presents the identity of %q (or any identity)", name, other)
		}
		seen[p.Cache.Identity] = "profile " + name
	}
	env["DT_SERVICE_ACCOUNT_SECRET"] = "secret-b"
	if b := resolve(env, vaultenv.Reference{}); b.Cache.Key() != a.Cache.Key() || b.Cache.Identity == a.Cache.Identity {
		t.Error("another secret of the same account: another key, or the same identity")
	}
	v := resolve(map[string]string{"VAULT_TOKEN": "hvs.a"}, vaultenv.Reference{Path: "dt/token/prod"})
	if v.Cache.Identity.None() || v.Cache.Identity != vaultIdentity(*v.Vault, mapEnv(map[string]string{"VAULT_TOKEN": "hvs.a"}), v.Cache.Key(), time.Now()) {
		t.Error("a Vault account does not present its Vault identity")
	}
}
