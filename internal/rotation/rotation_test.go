package rotation

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/serviceaccount"
)

// The DT identity service and API cannot run here: the emulator
// (auth/authtest) stands in for them. The secrets are in the real stores:
// private files, and the real Secret Service under
// scripts/keyring-session.sh.

const (
	ownerEmail  = "sa1@proj1.serviceaccount.d21s.com"
	ownerSecret = "owner-secret-Jq2r"
)

var ownerID = serviceaccount.ID{Project: "proj1", ServiceAccount: "sa1"}

type fixture struct {
	srv    *authtest.Server
	repo   *profile.Repository
	env    map[string]string
	name   string
	where  string
	forgot []profile.Account
}

func newFixture(t *testing.T, where string) *fixture {
	t.Helper()
	if where == profile.SecretInKeyring && os.Getenv("DT_TEST_SECRET_SERVICE") != "1" {
		t.Skip("no Secret Service session: run under scripts/keyring-session.sh")
	}
	if where == profile.SecretInFile {
		t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
	}
	b := make([]byte, 6)
	rand.Read(b)
	home := t.TempDir()
	f := &fixture{
		srv:   authtest.NewServer(authtest.Account{KeyID: "key-0", Email: ownerEmail, Secret: ownerSecret}),
		env:   map[string]string{"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, "config")},
		name:  "rot-" + hex.EncodeToString(b),
		where: where,
	}
	t.Cleanup(f.srv.Close)
	f.repo = profile.NewRepository(func(k string) string { return f.env[k] }, 0, nil)
	p := profile.Profile{KeyID: "key-0", Email: ownerEmail, TokenEndpoint: f.srv.TokenURL()}
	if where == profile.SecretInFile {
		p.SecretStore = profile.SecretInFile
	}
	if _, err := f.repo.Save(t.Context(), f.name, p, ownerSecret, f.forget); err != nil {
		t.Fatal(err)
	}
	f.forgot = nil
	t.Cleanup(func() {
		// Whatever the test left in the OS keyring.
		if where == profile.SecretInKeyring {
			_, _ = f.fresh().Remove(context.Background(), f.name, auth.Credentials{}, f.forget)
		}
	})
	return f
}

func (f *fixture) forget(_ context.Context, a profile.Account) error {
	f.forgot = append(f.forgot, a)
	return nil
}

// fresh is a repository that reads everything afresh, as another process.
func (f *fixture) fresh() *profile.Repository {
	return profile.NewRepository(func(k string) string { return f.env[k] }, 0, nil)
}

func (f *fixture) config() Config {
	return Config{
		Profiles:      f.fresh(),
		Name:          f.name,
		ID:            ownerID,
		APIURL:        f.srv.URL + "/v2",
		TokenEndpoint: f.srv.TokenURL(),
		Timeout:       5 * time.Second,
		Forget:        f.forget,
	}
}

func (f *fixture) rotate(t *testing.T, change ...func(*Config)) (*Report, error) {
	t.Helper()
	cfg := f.config()
	for _, c := range change {
		c(&cfg)
	}
	return Rotate(t.Context(), cfg)
}

// profileFile is the profiles file's bytes.
func (f *fixture) profileFile(t *testing.T) []byte {
	t.Helper()
	path, _ := f.repo.Path()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// account is the profile as another process reads it.
func (f *fixture) account(t *testing.T) profile.Account {
	t.Helper()
	a, err := f.fresh().Account(f.name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// works checks the profile's secret obtains a token for its key.
func (f *fixture) works(t *testing.T) {
	t.Helper()
	repo := f.fresh()
	a, err := repo.Account(f.name)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := repo.Secret(f.name)
	if err != nil {
		t.Fatalf("the profile's secret: %v", err)
	}
	c := a.Credentials
	c.Secret = secret
	src, err := auth.NewSource(c)
	if err == nil {
		_, err = src.TokenContext(t.Context())
	}
	if err != nil {
		t.Errorf("the profile's key %s does not work: %v", c.KeyID, err)
	}
}

// keyIDs are the account's keys at the emulator.
func (f *fixture) keyIDs() []string {
	var ids []string
	for _, k := range f.srv.KeysOf(ownerEmail) {
		ids = append(ids, k.KeyID)
	}
	return ids
}

// leaks fails t if the report or err shows a secret of the account.
func (f *fixture) leaks(t *testing.T, rep *Report, err error) {
	t.Helper()
	shown := fmt.Sprintf("%+v %v", rep, err)
	for _, k := range f.srv.KeysOf(ownerEmail) {
		if strings.Contains(shown, k.Secret) {
			t.Errorf("the report shows the secret of key %s", k.KeyID)
		}
	}
	if strings.Contains(shown, ownerSecret) {
		t.Error("the report shows the first secret")
	}
}

func eachStore(t *testing.T, test func(t *testing.T, f *fixture)) {
	for _, where := range []string{profile.SecretInFile, profile.SecretInKeyring} {
		t.Run(where, func(t *testing.T) { test(t, newFixture(t, where)) })
	}
}

func TestRotate(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		rep, err := f.rotate(t)
		f.leaks(t, rep, err)
		if err != nil {
			t.Fatal(err)
		}
		ids := f.keyIDs()
		if len(ids) != 1 || ids[0] == "key-0" || rep.NewKeyID != ids[0] || rep.OldKeyID != "key-0" || !rep.OldDeleted || rep.Store != f.where {
			t.Fatalf("report %+v, DT has keys %v", rep, ids)
		}
		a := f.account(t)
		if a.Credentials.KeyID != rep.NewKeyID || a.Rotation != nil || a.KeyCreated.IsZero() || !a.KeyCreated.Equal(rep.NewKeyCreated) {
			t.Errorf("profile %+v after rotate", a)
		}
		f.works(t)
		if len(f.forgot) != 1 || f.forgot[0].Credentials.KeyID != "key-0" {
			t.Errorf("forgot %+v, want the old key's tokens", f.forgot)
		}
		secrets, _ := f.fresh().Secrets(f.where)
		if _, err := secrets.Get(profile.SecretKey(f.name)); !errors.Is(err, keyring.ErrNotFound) {
			t.Errorf("the old key's secret is still stored: %v", err)
		}

		// Again: the rotated key rotates too.
		rep2, err := f.rotate(t)
		if err != nil || rep2.OldKeyID != rep.NewKeyID {
			t.Fatalf("second rotation: %+v, %v", rep2, err)
		}
		if ids := f.keyIDs(); len(ids) != 1 || ids[0] != rep2.NewKeyID {
			t.Errorf("DT has keys %v, want only %s", ids, rep2.NewKeyID)
		}
		f.works(t)
	})
}

func TestRotateKeepOld(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		rep, err := f.rotate(t, func(c *Config) { c.KeepOld = true })
		if err != nil || !rep.Kept || rep.OldDeleted {
			t.Fatalf("report %+v, %v", rep, err)
		}
		if ids := f.keyIDs(); len(ids) != 2 {
			t.Errorf("DT has keys %v, want the old one kept", ids)
		}
		f.works(t)
		if f.srv.KeyRequests(authtest.OpDeleteKey) != 0 {
			t.Error("a key was deleted")
		}
	})
}

// TestRotateNoRight: an account without the right to create keys leaves
// everything as it was: the profiles file byte for byte, the keys at DT.
func TestRotateNoRight(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		before := f.profileFile(t)
		f.srv.SetKeyRight(ownerEmail, false)
		rep, err := f.rotate(t)
		if err == nil || !errors.Is(err, serviceaccount.ErrNoRight) || !strings.Contains(err.Error(), "Project Administrator") ||
			!strings.Contains(err.Error(), "nothing was changed") {
			t.Fatalf("rotate without the right: %v", err)
		}
		f.leaks(t, rep, err)
		if after := f.profileFile(t); !bytes.Equal(before, after) {
			t.Errorf("the profiles file changed:\n%s\n%s", before, after)
		}
		if ids := f.keyIDs(); len(ids) != 1 || ids[0] != "key-0" {
			t.Errorf("DT has keys %v", ids)
		}
		f.works(t)
	})
}

// TestRotateWrongAccount: a key that is not the named account's is not
// rotated there.
func TestRotateWrongAccount(t *testing.T) {
	f := newFixture(t, profile.SecretInFile)
	f.srv.AddAccount(authtest.Account{KeyID: "other-0", Email: "sa2@proj1.serviceaccount.d21s.com", Secret: "x"})
	before := f.profileFile(t)
	_, err := f.rotate(t, func(c *Config) { c.ID.ServiceAccount = "sa2" })
	if err == nil || !strings.Contains(err.Error(), "not a key of") {
		t.Fatalf("rotate against another account: %v", err)
	}
	if f.srv.KeyRequests(authtest.OpCreateKey) != 0 || !bytes.Equal(before, f.profileFile(t)) {
		t.Error("something changed")
	}
}

// TestRotateLostCreate: a create whose answer was lost after DT created
// the key keeps the record; the next run reports the key, nobody holding
// its secret, and rotates.
func TestRotateLostCreate(t *testing.T) {
	f := newFixture(t, profile.SecretInFile)
	f.srv.InjectKeys(authtest.OpCreateKey, authtest.Fault{Late: true, Drop: true})
	_, err := f.rotate(t)
	if err == nil || !strings.Contains(err.Error(), "run rotate again") {
		t.Fatalf("a lost create: %v", err)
	}
	lost := f.keyIDs()[1]
	if a := f.account(t); a.Credentials.KeyID != "key-0" || a.Rotation == nil {
		t.Fatalf("profile %+v: want key-0 and the rotation recorded", a)
	}
	f.works(t)
	rep, err := f.rotate(t)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Unstored) != 1 || rep.Unstored[0].ID != lost || rep.Resumed != "" {
		t.Errorf("report %+v, want %s reported as never stored", rep, lost)
	}
	if ids := f.keyIDs(); len(ids) != 2 || ids[0] != lost || ids[1] != rep.NewKeyID {
		t.Errorf("DT has keys %v, want the unstored one and the new one", ids)
	}
	f.works(t)
}

// TestRotateResumes: a rotation that stopped after staging (the proof
// failed for a transient reason) or after switching (the delete failed)
// is finished by the next run.
func TestRotateResumes(t *testing.T) {
	t.Run("staged", func(t *testing.T) {
		f := newFixture(t, profile.SecretInFile)
		// The first exchange (the old key's) answers; the proof meets an
		// identity service that is down.
		f.srv.Inject(authtest.Fault{})
		f.srv.InjectAlways(authtest.ErrorFault(503, "temporarily_unavailable", "down"))
		_, err := f.rotate(t, func(c *Config) { c.Timeout = 300 * time.Millisecond })
		if err == nil || !strings.Contains(err.Error(), "run rotate again") {
			t.Fatalf("a proof that could not be made: %v", err)
		}
		a := f.account(t)
		if a.Credentials.KeyID != "key-0" || !a.Rotation.Staged() {
			t.Fatalf("profile %+v, rotation %+v", a, a.Rotation)
		}
		f.srv.ClearFaults()
		f.works(t)
		rep, err := f.rotate(t)
		if err != nil || rep.Resumed != "staged" || rep.NewKeyID != a.Rotation.NewKeyID || !rep.OldDeleted {
			t.Fatalf("rerun: %+v, %v", rep, err)
		}
		f.works(t)
	})
	t.Run("switched", func(t *testing.T) {
		f := newFixture(t, profile.SecretInFile)
		f.srv.InjectKeys(authtest.OpDeleteKey, authtest.ErrorFault(503, "x", "y"))
		_, err := f.rotate(t)
		if err == nil || !strings.Contains(err.Error(), "could not be deleted") {
			t.Fatalf("a failed delete: %v", err)
		}
		a := f.account(t)
		if a.Credentials.KeyID == "key-0" || !a.Rotation.Switched() {
			t.Fatalf("profile %+v, rotation %+v", a, a.Rotation)
		}
		f.works(t)
		rep, err := f.rotate(t)
		if err != nil || rep.Resumed != "switched" || rep.OldKeyID != "key-0" || !rep.OldDeleted {
			t.Fatalf("rerun: %+v, %v", rep, err)
		}
		if ids := f.keyIDs(); len(ids) != 1 || ids[0] != a.Credentials.KeyID {
			t.Errorf("DT has keys %v", ids)
		}
	})
}

// TestRotateRejectedKey: a new key DT never accepts is deleted, and the
// profile keeps its key.
func TestRotateRejectedKey(t *testing.T) {
	f := newFixture(t, profile.SecretInFile)
	f.srv.Inject(authtest.Fault{})
	f.srv.InjectAlways(authtest.ErrorFault(400, "invalid_grant", "not yet"))
	rep, err := f.rotate(t, func(c *Config) { c.ProveFor = 700 * time.Millisecond })
	if err == nil || !strings.Contains(err.Error(), "does not accept") || !strings.Contains(err.Error(), "keeps key key-0") {
		t.Fatalf("a key never accepted: %+v, %v", rep, err)
	}
	f.srv.ClearFaults()
	if ids := f.keyIDs(); len(ids) != 1 || ids[0] != "key-0" {
		t.Errorf("DT has keys %v, want the new one deleted", ids)
	}
	if a := f.account(t); a.Rotation != nil || a.Credentials.KeyID != "key-0" {
		t.Errorf("profile %+v", a)
	}
	f.works(t)
}

func TestRotateBrokenKey(t *testing.T) {
	f := newFixture(t, profile.SecretInFile)
	f.srv.InjectAlways(authtest.ErrorFault(400, "invalid_grant", "bad key"))
	_, err := f.rotate(t)
	if err == nil || !strings.Contains(err.Error(), "log in with a key that works") {
		t.Fatalf("a profile whose key does not work: %v", err)
	}
	if f.srv.KeyRequests("") != 0 {
		t.Error("the key API was asked")
	}
}

// TestRotateHostileListing: an API that lists key ids that are not ids
// (two pages of 600 000 characters each: the profiles file would pass
// 1 MiB and no command of any profile could read it) stops the rotation
// before it records anything.
func TestRotateHostileListing(t *testing.T) {
	f := newFixture(t, profile.SecretInFile)
	before := f.profileFile(t)
	long := strings.Repeat("k", 600_000)
	f.srv.InjectKeys(authtest.OpListKeys,
		authtest.Fault{Status: 200, Body: `{"keys":[{"id":"key-0"},{"id":"` + long + `1"}],"nextPageToken":"p2"}`},
		authtest.Fault{Status: 200, Body: `{"keys":[{"id":"` + long + `2"}]}`})
	f.srv.InjectKeys(authtest.OpCreateKey, authtest.Fault{Status: 500})
	_, err := f.rotate(t)
	if err == nil || !strings.Contains(err.Error(), "nothing was changed") || len(err.Error()) > 1000 {
		t.Fatalf("a listing of ids that are not ids: %.300v", err)
	}
	if after := f.profileFile(t); !bytes.Equal(before, after) {
		t.Fatalf("the profiles file changed: %d bytes, was %d", len(after), len(before))
	}
	if f.srv.KeyRequests(authtest.OpCreateKey) != 0 {
		t.Error("a key was created")
	}
	f.works(t)
}

// TestRotateLostCreateNamesOnlyItsWindow: after a create whose answer was
// lost, a key another machine created on the same service account later
// is not reported as the interrupted rotation's: only a key created while
// its create could act is.
func TestRotateLostCreateNamesOnlyItsWindow(t *testing.T) {
	f := newFixture(t, profile.SecretInFile)
	f.srv.InjectKeys(authtest.OpCreateKey, authtest.Fault{Late: true, Drop: true})
	if _, err := f.rotate(t); err == nil {
		t.Fatal("a lost create succeeded")
	}
	lost := f.keyIDs()[1]
	// Another machine's key, made a minute later with its own secret.
	f.srv.AddAccount(authtest.Account{KeyID: "other-machine", Email: ownerEmail, Secret: "other-machine-secret", CreateTime: time.Now().Add(time.Minute)})
	rep, err := f.rotate(t)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(rep.Unstored); len(got) != 1 || got[0] != lost {
		t.Errorf("reported %v as the interrupted rotation's, want only %s", got, lost)
	}
	if ids := f.keyIDs(); !slices.Contains(ids, "other-machine") {
		t.Errorf("DT has keys %v: the other machine's key went", ids)
	}
}

func ids(keys []serviceaccount.Key) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.ID)
	}
	return out
}
