package keyring

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// forgetAccount is an account no other test or run uses; its entries are
// removed from every store afterwards.
func forgetAccount(t *testing.T, dir string) Account {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	acct := Account{Endpoint: "https://forget.example.test/token", KeyID: "kid-" + hex.EncodeToString(b), Email: "forget@example.test"}
	t.Cleanup(func() {
		for _, tr := range tiers(StoreConfig{Dir: dir}) {
			tr.store.Delete(acct.Key())
		}
	})
	return acct
}

// TestForgetLeavesNothingInAnyMode: whatever mode cached a token, Forget
// (under any mode of its own) removes it, so logout cannot leave a token in
// a store Forget does not know. Each mode's store is looked at as the mode
// itself reads it.
func TestForgetLeavesNothingInAnyMode(t *testing.T) {
	requireSecretService(t)
	requireKernelKeyring(t)
	dir := privateTempDir(t)
	getenv := func(name string) string {
		if name == "DT_CACHE_DIR" {
			return dir
		}
		return ""
	}
	now := time.Now()
	// Every mode that caches (none keeps nothing), from the one list of
	// modes: a mode added there is tested here without an edit.
	for _, name := range ModeNames() {
		mode := Mode(name)
		if mode == ModeNone {
			continue
		}
		t.Run(name, func(t *testing.T) {
			acct := forgetAccount(t, dir)
			s, err := OpenStore(mode, StoreConfig{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			e := NewEntry(&oauth2.Token{AccessToken: "forget-me", TokenType: "Bearer", Expiry: now.Add(time.Hour)}, acct, now)
			if err := s.Set(acct.Key(), e.Encode()); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(acct.Key()); err != nil {
				t.Fatalf("the entry is not there to forget (%v): the test would prove nothing", err)
			}
			if err := Forget(t.Context(), LocationConfig{Mode: ModeNone, Getenv: getenv}, acct); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(acct.Key()); !errors.Is(err, ErrNotFound) {
				t.Errorf("after Forget the %s mode's store still answers %v, want ErrNotFound", mode, err)
			}
		})
	}
}

// TestForgetWithoutADirectory: a cache directory that may not be used is
// the caller's to fix (a *DirError, Misconfigured), and the keyrings are
// cleaned all the same.
func TestForgetWithoutADirectory(t *testing.T) {
	requireKernelKeyring(t)
	acct := forgetAccount(t, "")
	k := NewKernelStore()
	if err := k.Set(acct.Key(), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	getenv := func(name string) string {
		if name == "DT_CACHE_DIR" {
			return "relative/dir"
		}
		return ""
	}
	err := Forget(t.Context(), LocationConfig{Getenv: getenv}, acct)
	var de *DirError
	if !errors.As(err, &de) || !de.Misconfigured() {
		t.Errorf("Forget = %v, want a *DirError for the relative DT_CACHE_DIR", err)
	}
	if _, err := k.Get(acct.Key()); !errors.Is(err, ErrNotFound) {
		t.Errorf("the kernel keyring still answers %v, want ErrNotFound", err)
	}
}
