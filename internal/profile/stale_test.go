package profile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestStale: a repository that read the profiles file sees another
// process's write (a login, logout or rotate), and then reads the file
// again; nothing changed, it keeps what it read.
func TestStale(t *testing.T) {
	f := newTxFixture(t)
	f.repo.FollowChanges()
	other := NewRepository(f.getenv, 0, nil) // another process
	if f.repo.Stale() {
		t.Error("Stale before anything was read")
	}
	if _, err := f.repo.Account("p"); err == nil {
		t.Fatal("profile p before it was saved")
	}
	if f.repo.Stale() {
		t.Error("Stale with the file still missing")
	}
	if _, err := other.Save(t.Context(), "p", dtProfile(SecretInFile), "secret-one", f.forget); err != nil {
		t.Fatal(err)
	}
	if !f.repo.Stale() {
		t.Fatal("not Stale after the file was created")
	}
	a, err := f.repo.Account("p")
	if err != nil || a.Credentials.KeyID != dtProfile(SecretInFile).KeyID {
		t.Fatalf("Account after Stale: %+v, %v", a, err)
	}
	if f.repo.Stale() {
		t.Error("Stale with nothing changed")
	}

	p := dtProfile(SecretInFile)
	p.KeyID = "key-two"
	if _, err := other.Save(t.Context(), "p", p, "secret-two", f.forget); err != nil {
		t.Fatal(err)
	}
	if !f.repo.Stale() {
		t.Fatal("not Stale after the profile was saved again")
	}
	if a, err := f.repo.Account("p"); err != nil || a.Credentials.KeyID != "key-two" {
		t.Errorf("Account after the change: %+v, %v; want key-two", a, err)
	}
	if s, err := f.repo.Secret("p"); err != nil || s != "secret-two" {
		t.Errorf("Secret after the change: %v (the new one: %v)", err, s == "secret-two")
	}

	path, err := f.repo.Path()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if !f.repo.Stale() {
		t.Error("not Stale after the file was removed")
	}

	// A one-shot process does not follow: no system call for it.
	once := NewRepository(f.getenv, 0, nil)
	if _, err := other.Save(t.Context(), "q", dtProfile(SecretInFile), "secret-q", f.forget); err != nil {
		t.Fatal(err)
	}
	if _, err := once.Account("q"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if once.Stale() {
		t.Error("a repository that does not follow changes says Stale")
	}
}

// TestLockRotationReadsAfresh: what a repository read before it took a
// profile's rotation lock (rotate reads the profile first) is forgotten
// once it holds it: a rotation or login that held the lock before may have
// changed the profile meanwhile. A repository that does not follow changes
// (the command's) is no exception.
func TestLockRotationReadsAfresh(t *testing.T) {
	f := newTxFixture(t)
	other := NewRepository(f.getenv, 0, nil) // the process that held the lock before
	if _, err := other.Save(t.Context(), "p", dtProfile(SecretInFile), "secret-one", f.forget); err != nil {
		t.Fatal(err)
	}
	if _, err := f.repo.Account("p"); err != nil {
		t.Fatal(err)
	}
	p := dtProfile(SecretInFile)
	p.KeyID = "key-two"
	if _, err := other.Save(t.Context(), "p", p, "secret-two", f.forget); err != nil {
		t.Fatal(err)
	}
	unlock, err := f.repo.LockRotation(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if a, err := f.repo.Account("p"); err != nil || a.Credentials.KeyID != "key-two" {
		t.Errorf("Account under the rotation lock: key %q, %v; want key-two, as the file says now", a.Credentials.KeyID, err)
	}
}

// TestLockRotationChecksTheDirectory: the rotation lock is not created in
// a profiles directory the profiles file would not be trusted in.
func TestLockRotationChecksTheDirectory(t *testing.T) {
	f := newTxFixture(t)
	path, err := f.repo.Path()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := f.repo.LockRotation(t.Context(), "p"); err == nil {
		t.Error("LockRotation in a directory anyone can write: no error")
	}
	if _, err := os.Lstat(path + ".rotate-p.lock"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the lock file was created there: %v", err)
	}
}
