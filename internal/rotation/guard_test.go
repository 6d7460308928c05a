package rotation

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/serviceaccount"
)

// switchedLeavingOld is f's profile rotated up to the switch, its old key
// key-0 left at DT (the delete answered 503).
func (f *fixture) switchedLeavingOld(t *testing.T) profile.Account {
	t.Helper()
	f.srv.InjectKeys(authtest.OpDeleteKey, authtest.ErrorFault(503, "x", "y"))
	if _, err := f.rotate(t); err == nil || !strings.Contains(err.Error(), "could not be deleted") {
		t.Fatalf("a failed delete: %v", err)
	}
	a := f.account(t)
	if !a.Rotation.Switched() || a.Rotation.OldKeyID != "key-0" {
		t.Fatalf("profile %+v, rotation %+v", a, a.Rotation)
	}
	return a
}

// TestRotateResumesWithItsAccount: an interrupted rotation is finished in
// the service account it began in; a rerun naming another is refused,
// saying which, and the old key is neither left unreported nor reported
// deleted while DT still has it.
func TestRotateResumesWithItsAccount(t *testing.T) {
	f := newFixture(t, profile.SecretInFile)
	f.srv.AddAccount(authtest.Account{KeyID: "key-b", Email: "sa2@proj1.serviceaccount.d21s.com", Secret: "other-secret-Zr8"})
	a := f.switchedLeavingOld(t)
	rep, err := f.rotate(t, func(c *Config) { c.ID = serviceaccount.ID{Project: "proj1", ServiceAccount: "sa2"} })
	if err == nil || !strings.Contains(err.Error(), "sa1") || rep.OldDeleted {
		t.Errorf("a rerun naming another service account: %+v, %v; want it refused, naming sa1", rep, err)
	}
	if !slices.Contains(f.keyIDs(), "key-0") {
		t.Fatal("key-0 was deleted")
	}
	if got := f.account(t); !got.Rotation.Switched() || got.Rotation.OldKeyID != "key-0" {
		t.Errorf("the record is %+v, want it kept", got.Rotation)
	}
	rep, err = f.rotate(t)
	if err != nil || !rep.OldDeleted || slices.Contains(f.keyIDs(), "key-0") {
		t.Errorf("a rerun in its own account: %+v, %v; DT has %v", rep, err, f.keyIDs())
	}
	if got := f.account(t); got.Rotation != nil || got.Credentials.KeyID != a.Credentials.KeyID {
		t.Errorf("the profile is %+v", got)
	}
}

// TestRotateNotFoundIsConfirmed: DT's "not found" for the old key counts
// as its deletion only once a listing shows it gone.
func TestRotateNotFoundIsConfirmed(t *testing.T) {
	f := newFixture(t, profile.SecretInFile)
	f.switchedLeavingOld(t)
	f.srv.InjectKeys(authtest.OpDeleteKey, authtest.Fault{Status: 404, Body: `{"error":"not found","code":404}`})
	rep, err := f.rotate(t)
	if err == nil || rep.OldDeleted || !strings.Contains(err.Error(), "key-0") {
		t.Errorf("a 404 while DT lists the key: %+v, %v; want the key reported left", rep, err)
	}
	if got := f.account(t); !got.Rotation.Switched() {
		t.Errorf("the record is %+v, want it kept for a rerun", got.Rotation)
	}
	if !slices.Contains(f.keyIDs(), "key-0") {
		t.Error("key-0 is gone")
	}
}

// TestRotateChecksTheLiveProfile: a rerun that read the profile before
// another writer put the old key back (by hand, or a program that does not
// take the rotation lock) deletes nothing, neither the old key at DT nor
// its secret here: it acts only on the record as it still is.
func TestRotateChecksTheLiveProfile(t *testing.T) {
	f := newFixture(t, profile.SecretInFile)
	f.switchedLeavingOld(t)
	release := make(chan struct{})
	f.srv.Inject(authtest.Fault{Hold: release})
	requests := f.srv.Requests()
	type outcome struct {
		rep *Report
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		rep, err := Rotate(t.Context(), f.config())
		done <- outcome{rep, err}
	}()
	for f.srv.Requests() == requests {
		select {
		case o := <-done:
			t.Fatalf("rotate ended before its first exchange was held: %+v, %v", o.rep, o.err)
		default:
			time.Sleep(time.Millisecond)
		}
	}
	// The old key logged in again: its secret in the profile's own entry.
	secrets, err := f.fresh().Secrets(profile.SecretInFile)
	if err == nil {
		err = secrets.Set(profile.SecretKey(f.name), []byte(ownerSecret))
	}
	if err == nil {
		path, _ := f.repo.Path()
		err = profile.Update(t.Context(), path, func(pf *profile.File) (bool, error) {
			p := pf.Profiles[f.name]
			p.KeyID, p.SecretEntry, p.Rotation = "key-0", "", nil
			pf.Profiles[f.name] = p
			return true, nil
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	close(release)
	o := <-done
	if !errors.Is(o.err, profile.ErrChanged) || o.rep.OldDeleted {
		t.Errorf("rotate over a profile changed meanwhile: %+v, %v; want ErrChanged", o.rep, o.err)
	}
	if !slices.Contains(f.keyIDs(), "key-0") {
		t.Error("key-0, the profile's key now, was deleted at DT")
	}
	f.works(t)
}
