package main

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/internal/rotation"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/serviceaccount"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// Process-level tests of rotate: the built binary against the emulator
// (auth/authtest), which stands in for DT's identity service and its key
// API, with the secrets in private files and, under
// scripts/keyring-session.sh, in the real Secret Service.

// rotateEmail is an email of DT's form: the key API's project and service
// account come from it.
const rotateEmail = "sa1@proj1.serviceaccount.d21s.com"

type rotateFixture struct {
	srv   *authtest.Server
	env   []string
	name  string // the profile
	keyID string // the key it logs in with
	where string // profile.SecretInFile or SecretInKeyring
}

// newRotateFixture is an emulator with an account of DT's form, and an
// environment with a profile of it, logged in, its secret kept in where,
// selected by DT_PROFILE; the key API at DT_API_URL.
func newRotateFixture(t *testing.T, where string, extraEnv ...string) *rotateFixture {
	t.Helper()
	if where == profile.SecretInKeyring {
		needKeyringSession(t)
	}
	f := &rotateFixture{keyID: uniqueName("first-"), name: uniqueName("rot-"), where: where}
	f.srv = authtest.NewServer(authtest.Account{KeyID: f.keyID, Email: rotateEmail, Secret: testSecret})
	t.Cleanup(f.srv.Close)
	env := withoutEnv(gitEnv(t, f.srv.TokenURL()),
		"DT_SERVICE_ACCOUNT_KEY_ID", "DT_SERVICE_ACCOUNT_EMAIL", "DT_SERVICE_ACCOUNT_SECRET", "DT_TOKEN_ENDPOINT")
	bus := "unix:path=/nonexistent/bus"
	if where == profile.SecretInKeyring {
		bus = os.Getenv("DBUS_SESSION_BUS_ADDRESS")
		t.Cleanup(func() {
			for _, k := range f.srv.KeysOf(rotateEmail) {
				secretToolClear(profile.KeySecretKey(f.name, k.KeyID))
			}
			secretToolClear(profile.SecretKey(f.name))
		})
	}
	f.env = withEnv(env, append([]string{"DBUS_SESSION_BUS_ADDRESS=" + bus, "DT_PROFILE=" + f.name, "DT_API_URL=" + f.srv.URL + "/v2"}, extraEnv...)...)
	args := []string{"login", "--key-id", f.keyID, "--email", rotateEmail, "--token-endpoint", f.srv.TokenURL()}
	if where == profile.SecretInFile {
		args = append(args, "--store", "file")
	}
	if r := runBinary(t, f.env, testSecret, args...); r.code != 0 {
		t.Fatalf("login: exit %d: %s", r.code, r.stderr)
	}
	f.srv.ResetRequests()
	return f
}

// run runs the binary with the fixture's environment, checking that its
// output shows no secret of the account's keys.
func (f *rotateFixture) run(t *testing.T, args ...string) result {
	t.Helper()
	r := runFor(t, crashLimit, f.env, "", args...)
	f.noSecretIn(t, r.stdout+r.stderr)
	return r
}

func (f *rotateFixture) noSecretIn(t *testing.T, out string) {
	t.Helper()
	for _, k := range f.srv.KeysOf(rotateEmail) {
		if strings.Contains(out, k.Secret) {
			t.Errorf("the output shows the secret of key %s: %q", k.KeyID, out)
		}
	}
}

// stored is the profile as the profiles file holds it.
func (f *rotateFixture) stored(t *testing.T) profile.Profile {
	t.Helper()
	pf, err := profile.Load(profilesPath(t, f.env))
	if err != nil {
		t.Fatal(err)
	}
	p, ok := pf.Profiles[f.name]
	if !ok {
		t.Fatalf("profile %s is gone", f.name)
	}
	return p
}

// keys are the account's key ids at DT.
func (f *rotateFixture) keys() []string {
	var ids []string
	for _, k := range f.srv.KeysOf(rotateEmail) {
		ids = append(ids, k.KeyID)
	}
	return ids
}

// token runs `token -o token` and wants a valid token of key keyID.
func (f *rotateFixture) token(t *testing.T, keyID string, args ...string) string {
	t.Helper()
	r := f.run(t, append([]string{"token", "-o", "token"}, args...)...)
	tok := strings.TrimSpace(r.stdout)
	info, ok := f.srv.Token(tok)
	if r.code != 0 || !ok || !f.srv.Valid(tok) || info.KeyID != keyID {
		t.Fatalf("token %v: exit %d, %s; a token of key %q (want %s)", args, r.code, r.stderr, info.KeyID, keyID)
	}
	return tok
}

// refused wants DT to refuse key keyID with secret.
func (f *rotateFixture) refused(t *testing.T, keyID, secret string) {
	t.Helper()
	src, err := auth.NewSource(auth.Credentials{KeyID: keyID, Email: rotateEmail, Secret: secret, TokenEndpoint: f.srv.TokenURL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.TokenContext(context.Background()); !auth.IsRejected(err) {
		t.Errorf("key %s: %v, want it refused", keyID, err)
	}
}

// secretFiles lists the private secret files of the fixture's config
// directory.
func (f *rotateFixture) secretFiles(t *testing.T) []string {
	t.Helper()
	des, err := os.ReadDir(profile.SecretsDir(profilesPath(t, f.env)))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func eachSecretStore(t *testing.T, test func(t *testing.T, where string)) {
	for _, where := range []string{profile.SecretInFile, profile.SecretInKeyring} {
		t.Run(where, func(t *testing.T) {
			t.Parallel()
			test(t, where)
		})
	}
}

// TestRotateEndToEnd: login, then rotate: the old key is refused by DT,
// the new key id is the profile's, and the token command, its cache and
// git carry on.
func TestRotateEndToEnd(t *testing.T) {
	gitBin, _ := lookGit(t)
	eachSecretStore(t, func(t *testing.T, where string) {
		f := newRotateFixture(t, where)
		gs := newGitServer(t, gitBin, f.srv, bareRepo(t, gitBin, f.env))
		u, _ := url.Parse(gs.URL)
		f.env = withEnv(f.env, "DT_CREDENTIAL_HOSTS="+u.Host)
		remote := gs.URL + "/repo.git"
		lsRemote := func(when string) {
			t.Helper()
			r := runGitCmd(t, gitBin, t.TempDir(), f.env, "", append(withHelper("dt"), "ls-remote", remote)...)
			if r.code != 0 || !strings.Contains(r.stdout, "refs/heads/main") {
				t.Fatalf("git ls-remote %s: exit %d\n%s", when, r.code, r.stderr)
			}
		}
		before := f.token(t, f.keyID)
		lsRemote("before rotate")
		oldEntry := filepath.Join(envValue(f.env, "DT_CACHE_DIR"), keyring.Key(f.srv.TokenURL(), f.keyID, rotateEmail))
		if _, err := os.Stat(oldEntry); err != nil {
			t.Fatalf("the old key's token is not cached where the test looks: %v", err)
		}

		r := f.run(t, "rotate")
		if r.code != 0 {
			t.Fatalf("rotate: exit %d\n%s", r.code, r.stderr)
		}
		keys := f.keys()
		if len(keys) != 1 || keys[0] == f.keyID {
			t.Fatalf("DT has keys %v, want one new key", keys)
		}
		newKey := keys[0]
		if r.stdout != "" || !strings.Contains(r.stderr, "now uses key "+newKey) || !strings.Contains(r.stderr, "old key "+f.keyID+" deleted") {
			t.Errorf("rotate said (stdout %q):\n%s", r.stdout, r.stderr)
		}
		f.refused(t, f.keyID, testSecret)
		if _, err := os.Stat(oldEntry); !os.IsNotExist(err) {
			t.Errorf("the old key's cached token is still there: %v", err)
		}
		if p := f.stored(t); p.KeyID != newKey || p.Rotation != nil || p.KeyCreated.IsZero() {
			t.Errorf("the profile is %+v", p)
		}
		if !f.srv.Valid(before) {
			t.Error("a token of the old key stopped working: DT's stay valid until they expire")
		}

		requests := f.srv.Requests()
		tok := f.token(t, newKey)
		if again := f.token(t, newKey); again != tok || f.srv.Requests() != requests+1 {
			t.Errorf("the second token call made %d requests, want it served from the cache", f.srv.Requests()-requests-1)
		}
		lsRemote("after rotate")
		if accepted, _ := gs.seen(); accepted[len(accepted)-1] != tok {
			t.Error("git did not use the new key's token")
		}
		if st := f.run(t, "status"); !strings.Contains(st.stdout, newKey) || strings.Contains(st.stdout, "unknown") {
			t.Errorf("status:\n%s", st.stdout)
		}
		if where == profile.SecretInFile {
			if got := f.secretFiles(t); !slices.Equal(got, []string{profile.KeySecretKey(f.name, newKey)}) {
				t.Errorf("secret files %v, want the new key's only", got)
			}
			assertNoFileHolds(t, envValue(f.env, "HOME"), testSecret)
		} else if _, code, _ := secretTool("", "lookup", "service", "dt-credential-helper", "username", profile.SecretKey(f.name)); code == 0 {
			t.Error("the old secret is still in the keyring")
		}
	})
}

// TestRotateKeepOld: --keep-old leaves the old key working at DT, and
// says so.
func TestRotateKeepOld(t *testing.T) {
	f := newRotateFixture(t, profile.SecretInFile)
	r := f.run(t, "rotate", "--keep-old")
	if r.code != 0 || !strings.Contains(r.stderr, "old key "+f.keyID+" kept") {
		t.Fatalf("rotate --keep-old: exit %d\n%s", r.code, r.stderr)
	}
	if keys := f.keys(); len(keys) != 2 {
		t.Errorf("DT has keys %v, want the old one too", keys)
	}
	f.token(t, f.stored(t).KeyID, "--force-refresh")
}

// TestRotateNoRight: without the right to manage its keys (403), rotate
// says what to do and leaves everything as it was.
func TestRotateNoRight(t *testing.T) {
	eachSecretStore(t, func(t *testing.T, where string) {
		f := newRotateFixture(t, where)
		path := profilesPath(t, f.env)
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files := f.secretFiles(t)
		f.srv.SetKeyRight(rotateEmail, false)
		r := f.run(t, "rotate")
		if r.code != 1 || !strings.Contains(r.stderr, "403") || !strings.Contains(r.stderr, "Project Administrator") ||
			!strings.Contains(r.stderr, "nothing was changed") {
			t.Errorf("rotate without the right: exit %d\n%s", r.code, r.stderr)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Errorf("the profiles file changed:\n%s\n%s", before, after)
		}
		if got := f.secretFiles(t); !slices.Equal(got, files) {
			t.Errorf("secret files %v, were %v", got, files)
		}
		if keys := f.keys(); !slices.Equal(keys, []string{f.keyID}) {
			t.Errorf("DT has keys %v", keys)
		}
		f.token(t, f.keyID, "--force-refresh")
	})
}

// TestRotateRefusals: what rotate will not rotate, each refused with what
// to do, nothing changed.
func TestRotateRefusals(t *testing.T) {
	f := newRotateFixture(t, profile.SecretInFile)
	credsFile := filepath.Join(t.TempDir(), "creds.json")
	if err := os.WriteFile(credsFile, []byte(`{"serviceAccount":{"keyId":"k","email":"e@x","secret":"s"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	noProfile := withoutEnv(f.env, "DT_PROFILE")
	odd := uniqueName("odd-")
	if r := runFor(t, crashLimit, f.env, "odd-secret", "login", "--profile", odd, "--no-verify", "--store", "file", "--key-id", "k", "--email", "sa@example.com"); r.code != 0 {
		t.Fatalf("login: %s", r.stderr)
	}
	vault := uniqueName("vault-")
	if r := f.run(t, "login", "--profile", vault, "--no-verify", "--vault-path", "dt/token/prod"); r.code != 0 {
		t.Fatalf("login: %s", r.stderr)
	}
	tests := []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"env secret", withEnv(noProfile, "DT_SERVICE_ACCOUNT_SECRET=s"), nil, []string{"DT_SERVICE_ACCOUNT_SECRET", "DT Studio", "login --profile"}},
		{"credentials file", withEnv(noProfile, "DT_CREDENTIALS_FILE="+credsFile), nil, []string{credsFile, "DT Studio", "login --profile"}},
		{"no profile", noProfile, nil, []string{"--profile is required"}},
		{"vault profile", f.env, []string{"--profile", vault}, []string{"Vault", "vault write -f dt/accounts/prod/rotate"}},
		{"email of another form", f.env, []string{"--profile", odd}, []string{"sa@example.com", "--project and --service-account"}},
		{"unknown profile", f.env, []string{"--profile", "nobody"}, []string{"unknown profile", "login"}},
		{"plain http API", f.env, []string{"--api-url", "http://api.example/v2"}, []string{"https"}},
		{"project alone", f.env, []string{"--project", "p"}, []string{"go together"}},
		{"secret flag", f.env, []string{"--secret", "s"}, []string{"never taken on the command line"}},
	}
	before, _ := os.ReadFile(profilesPath(t, f.env))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runFor(t, crashLimit, tc.env, "", append([]string{"rotate"}, tc.args...)...)
			oneStderrLine(t, r.stderr, tc.want...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2", r.code)
			}
		})
	}
	if after, _ := os.ReadFile(profilesPath(t, f.env)); !bytes.Equal(before, after) {
		t.Error("a refused rotate changed the profiles file")
	}
	if n := f.srv.KeyRequests(""); n != 0 {
		t.Errorf("refused rotates made %d key API requests", n)
	}
}

// killPoint is a step of rotate at which the test kills it: arm makes the
// emulator hold the step's request, reached says the process is there.
type killPoint struct {
	name    string
	arm     func(srv *authtest.Server)
	reached func(f *rotateFixture) bool
	// unstored: DT created a key whose secret died with the process.
	unstored bool
}

func killPoints() []killPoint {
	hold := authtest.Fault{Delay: time.Hour}
	late := authtest.Fault{Delay: time.Hour, Late: true}
	requests := func(op string, n int) func(f *rotateFixture) bool {
		return func(f *rotateFixture) bool { return f.srv.KeyRequests(op) >= n }
	}
	return []killPoint{
		{"exchanging the current key", func(s *authtest.Server) { s.Inject(hold) }, func(f *rotateFixture) bool { return f.srv.Requests() >= 1 }, false},
		{"listing the keys", func(s *authtest.Server) { s.InjectKeys(authtest.OpListKeys, hold) }, requests(authtest.OpListKeys, 1), false},
		{"creating a key, before DT did", func(s *authtest.Server) { s.InjectKeys(authtest.OpCreateKey, hold) }, requests(authtest.OpCreateKey, 1), false},
		{"creating a key, after DT did", func(s *authtest.Server) { s.InjectKeys(authtest.OpCreateKey, late) },
			func(f *rotateFixture) bool { return len(f.keys()) == 2 }, true},
		{"proving the new key", func(s *authtest.Server) { s.Inject(authtest.Fault{}, hold) }, func(f *rotateFixture) bool { return f.srv.Requests() >= 2 }, false},
		{"deleting the old key, before DT did", func(s *authtest.Server) { s.InjectKeys(authtest.OpDeleteKey, hold) }, requests(authtest.OpDeleteKey, 1), false},
		{"deleting the old key, after DT did", func(s *authtest.Server) { s.InjectKeys(authtest.OpDeleteKey, late) },
			func(f *rotateFixture) bool { return !slices.Contains(f.keys(), f.keyID) }, false},
	}
}

// TestRotateKilledAtEachStep: rotate killed (SIGKILL) at each of its
// steps leaves a profile whose secret works, and rotate run again ends
// with the profile on one working key, the first key deleted, and any
// other key at DT reported by id.
func TestRotateKilledAtEachStep(t *testing.T) {
	for _, where := range []string{profile.SecretInFile, profile.SecretInKeyring} {
		for _, kp := range killPoints() {
			t.Run(where+"/"+kp.name, func(t *testing.T) {
				t.Parallel()
				f := newRotateFixture(t, where)
				kp.arm(f.srv)
				cmd, _ := crashStart(t, f.env, "rotate")
				if !waitFor(20*time.Second, func() bool { return kp.reached(f) }) {
					crashKill(t, cmd)
					t.Fatal("rotate did not reach the step")
				}
				if !crashKill(t, cmd) {
					t.Fatal("rotate ended before it was killed")
				}
				f.srv.ClearFaults()
				// Killed there, the profile keeps a secret that works.
				f.token(t, f.stored(t).KeyID, "--force-refresh")

				r := f.run(t, "rotate")
				if r.code != 0 {
					t.Fatalf("rotate again: exit %d\n%s", r.code, r.stderr)
				}
				p := f.stored(t)
				f.token(t, p.KeyID, "--force-refresh")
				if p.Rotation != nil || p.KeyID == f.keyID {
					t.Errorf("the profile is %+v", p)
				}
				keys := f.keys()
				var others []string
				for _, k := range keys {
					if k != p.KeyID {
						others = append(others, k)
					}
				}
				for _, k := range others {
					if !strings.Contains(r.stderr, "key "+k+" of the service account") || !strings.Contains(r.stderr, "never stored") ||
						!strings.Contains(r.stderr, "may have been created") || !strings.Contains(r.stderr, "if no machine of yours uses it") ||
						strings.Contains(r.stderr, "nobody can use it") {
						t.Errorf("DT has key %s besides the profile's, not reported:\n%s", k, r.stderr)
					}
				}
				if slices.Contains(keys, f.keyID) || (len(others) == 1) != kp.unstored || len(others) > 1 {
					t.Errorf("DT has keys %v (profile's %s, first %s)", keys, p.KeyID, f.keyID)
				}
				if where == profile.SecretInFile {
					if got := f.secretFiles(t); !slices.Equal(got, []string{profile.KeySecretKey(f.name, p.KeyID)}) {
						t.Errorf("secret files %v, want the profile key's only", got)
					}
				}
			})
		}
	}
}

func TestKeyAge(t *testing.T) {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		a    profile.Account
		want string
	}{
		{profile.Account{}, "unknown"},
		{profile.Account{KeyCreated: now.Add(-30 * time.Minute)}, "30m"},
		{profile.Account{KeyCreated: now.Add(-5 * time.Hour)}, "5h"},
		{profile.Account{KeyCreated: now.Add(-49 * time.Hour)}, "2d"},
		{profile.Account{KeyCreated: now.Add(-400 * 24 * time.Hour), Rotation: &profile.Rotation{}}, "400d (rotation unfinished: run rotate)"},
		{profile.Account{KeyCreated: now.Add(time.Minute)}, "0m"},
		{profile.Account{Vault: &vaultenv.Reference{Path: "dt/token/x"}}, ""},
	}
	for _, tc := range tests {
		if got := keyAge(tc.a, now); got != tc.want {
			t.Errorf("keyAge(%v, rotation %v) = %q, want %q", tc.a.KeyCreated, tc.a.Rotation != nil, got, tc.want)
		}
	}
}

// TestPrintRotationOneLine: the key ids rotate prints come from DT's
// answers: each is printed on its line, with no control character.
func TestPrintRotationOneLine(t *testing.T) {
	var stderr bytes.Buffer
	hostile := "k\x1b]0;owned\a\x1b[2J\nfake: rotate: done"
	rep := &rotation.Report{Profile: "p", Unstored: []serviceaccount.Key{{ID: hostile}}, NewKeyID: hostile, OldKeyID: hostile}
	printRotation(env{stderr: &stderr}, rep, true)
	out := stderr.String()
	if strings.ContainsAny(out, "\x1b\a") || strings.Count(out, "\n") != 3 {
		t.Errorf("rotate printed %q", out)
	}
}
