//go:build linux

package keyring

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/keyringtest"

	"github.com/godbus/dbus/v5"
	gokeyring "github.com/zalando/go-keyring"
)

// requireSecretService skips unless scripts/keyring-session.sh runs the
// tests inside a private session with an unlocked gnome-keyring: the real
// thing, never the user's own keyring.
// envPrivateKeyring marks a test process that runs in a keyring session of
// its own, where it may lock the login collection.
const envPrivateKeyring = "DT_TEST_PRIVATE_KEYRING"

func requireSecretService(t testing.TB) {
	t.Helper()
	if os.Getenv("DT_TEST_SECRET_SERVICE") != "1" {
		t.Skip("no Secret Service session: run under scripts/keyring-session.sh")
	}
}

// uniqueKeyringKey returns a key no other test (or earlier run) uses, and removes it
// from the keyring afterwards.
func uniqueKeyringKey(t testing.TB, prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	key := prefix + hex.EncodeToString(b)
	t.Cleanup(func() { gokeyring.Delete(Service, key) })
	return key
}

func TestOSStoreRoundTrip(t *testing.T) {
	requireSecretService(t)
	s := NewOSStore(0)
	for _, prefix := range []string{"token-", "secret-"} {
		key := uniqueKeyringKey(t, prefix)
		if _, err := s.Get(key); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(%s) before Set: err = %v, want ErrNotFound", prefix, err)
		}
		want := []byte(`{"v":1,"access_token":"a.b.c"}`)
		if err := s.Set(key, want); err != nil {
			t.Fatal(err)
		}
		checkGetReplaceDelete(t, s, key, want)
	}
}

// TestKeyringLeanGetMatchesGoKeyring checks both directions: the lean read
// finds what go-keyring wrote and go-keyring finds what the store wrote.
func TestKeyringLeanGetMatchesGoKeyring(t *testing.T) {
	requireSecretService(t)
	s := NewOSStore(0)
	values := []string{
		"x",
		string(writerEntry(7)),
		"unicode ✓ and\nnewlines\tand \"quotes\"",
		strings.Repeat("big", 10000),
	}
	for i, v := range values {
		key := uniqueKeyringKey(t, "token-")
		if err := gokeyring.Set(Service, key, v); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get(key); err != nil || string(got) != v {
			t.Errorf("value %d: lean Get of a go-keyring entry = %d bytes, %v; want %d bytes", i, len(got), err, len(v))
		}
		key2 := uniqueKeyringKey(t, "token-")
		if err := s.Set(key2, []byte(v)); err != nil {
			t.Fatal(err)
		}
		if got, err := gokeyring.Get(Service, key2); err != nil || got != v {
			t.Errorf("value %d: go-keyring Get of a store entry = %d bytes, %v; want %d bytes", i, len(got), err, len(v))
		}
	}
}

// TestKeyringForeignEntry writes an entry with secret-tool, as a user or
// another program might: it reads back as raw data (the decode layer rejects
// it), and a Set replaces it rather than leaving it to shadow the new one.
func TestKeyringForeignEntry(t *testing.T) {
	requireSecretService(t)
	if _, err := exec.LookPath("secret-tool"); err != nil {
		// scripts/keyring-session.sh installs it with the session.
		t.Fatal("secret-tool not installed in a Secret Service session")
	}
	s := NewOSStore(0)
	key := uniqueKeyringKey(t, "token-")
	cmd := exec.Command("secret-tool", "store", "--label=x", "service", Service, "username", key)
	cmd.Stdin = strings.NewReader("garbage{")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("secret-tool store: %v: %s", err, out)
	}
	got, err := s.Get(key)
	if err != nil || string(got) != "garbage{" {
		t.Fatalf("Get = %q, %v; want the raw data", got, err)
	}
	if _, err := DecodeEntry(got); err == nil {
		t.Fatal("DecodeEntry accepted garbage")
	}
	want := writerEntry(3)
	if err := s.Set(key, want); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(key); err != nil || string(got) != string(want) {
		t.Fatalf("Get after Set over a foreign entry = %q, %v", got, err)
	}
	if err := s.Delete(key); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete = %q, %v; want ErrNotFound (a second item survived)", got, err)
	}
}

func TestKeyringNoBus(t *testing.T) {
	if fi, err := os.Stat(filepath.Join("/run/user", strconv.Itoa(os.Getuid()), "bus")); err == nil && fi.Mode()&os.ModeSocket != 0 {
		t.Skip("this machine has a systemd user bus; cannot make the bus disappear")
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("XDG_RUNTIME_DIR", privateTempDir(t))
	s := NewOSStore(time.Second)
	start := time.Now()
	_, gerr := s.Get("token-x")
	for op, err := range map[string]error{"Get": gerr, "Set": s.Set("token-x", []byte("v")), "Delete": s.Delete("token-x")} {
		if !errors.Is(err, ErrUnreachable) {
			t.Errorf("%s without a bus = %v, want ErrUnreachable", op, err)
		}
	}
	// Well within the one-second bound each call would otherwise wait out.
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("failing without a bus took %v; it should not try anything", d)
	}
}

func TestKeyringUnreachable(t *testing.T) {
	// A bus that accepts connections and never says a word: the deadline
	// on the socket must end the read.
	silent := silentBus(t)
	tests := []struct {
		name string
		addr string
	}{
		{"no socket", "unix:path=" + filepath.Join(privateTempDir(t), "no-such-socket")},
		{"bad address", "tcp:nonsense"},
		{"silent bus", silent.addr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DBUS_SESSION_BUS_ADDRESS", tt.addr)
			assertUnavailableWithin(t, NewOSStore(300*time.Millisecond), time.Second)
		})
	}
}

// TestKeyringHungSecretService puts a Secret Service on a private bus that
// takes calls and never answers, as gnome-keyring does while it waits for
// an unlock prompt nobody can see. This is a fake because a real daemon
// cannot be made to hang on demand; the bus is a real dbus-daemon.
func TestKeyringHungSecretService(t *testing.T) {
	hung := keyringtest.StartHungService(t)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", hung.Addr)

	t.Run("keyring", func(t *testing.T) {
		assertUnavailableWithin(t, NewOSStore(300*time.Millisecond), time.Second)
		st, err := OpenStore(ModeKeyring, StoreConfig{Timeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Get("token-x"); !errors.Is(err, ErrUnreachable) {
			t.Fatalf("explicit keyring mode: Get = %v, want ErrUnreachable", err)
		}
	})

	t.Run("auto", func(t *testing.T) {
		dir := privateTempDir(t)
		// The Secret Service and the files, without the kernel keyring
		// that OpenStore puts in front of them.
		auto := openOSAuto(StoreConfig{Dir: dir, Timeout: 300 * time.Millisecond})
		before := hung.Calls()
		start := time.Now()
		if _, err := auto.Get("token-x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("auto Get = %v, want ErrNotFound from the file store", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("auto Get took %v with a 300ms bound", d)
		}
		if r := auto.FallbackReason(); !strings.Contains(r, "did not answer") {
			t.Errorf("FallbackReason() = %q, want it to say the keyring did not answer", r)
		}
		if n := auto.Name(); !strings.HasPrefix(n, "file (keyring unavailable") {
			t.Errorf("Name() = %q", n)
		}
		if err := auto.Set("token-x", []byte("v")); err != nil {
			t.Fatal(err)
		}
		if got, err := NewFileStore(dir).Get("token-x"); err != nil || string(got) != "v" {
			t.Fatalf("file store after auto Set = %q, %v", got, err)
		}
		if got, err := auto.Get("token-x"); err != nil || string(got) != "v" {
			t.Fatalf("auto Get after Set = %q, %v", got, err)
		}
		if n := hung.Calls() - before; n != 1 {
			t.Errorf("the hung keyring was called %d times; after the first hang it must not be asked again", n)
		}
	})
}

// TestOpenMakesNoCall checks that opening the auto store costs nothing: the
// first connection to the bus is the first Get's.
func TestOpenMakesNoCall(t *testing.T) {
	silent := silentBus(t)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", silent.addr)
	st, err := OpenStore(ModeAuto, StoreConfig{Dir: privateTempDir(t), Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Name()
	time.Sleep(20 * time.Millisecond)
	if n := silent.accepted.Load(); n != 0 {
		t.Fatalf("OpenStore connected to the bus %d times", n)
	}
	// A key in no store, so that the kernel keyring misses and the Secret
	// Service is asked.
	key := uniqueKernelKey(t)
	st.Get(key)
	st.Get(key)
	if n := silent.accepted.Load(); n != 1 {
		t.Fatalf("two Gets connected %d times, want 1 (then the file store)", n)
	}
}

func assertUnavailableWithin(t *testing.T, s Store, limit time.Duration) {
	t.Helper()
	start := time.Now()
	_, err := s.Get("token-x")
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("Get = %v, want ErrUnreachable", err)
	}
	if d := time.Since(start); d > limit {
		t.Errorf("Get took %v, want under %v", d, limit)
	}
}

type silentListener struct {
	addr     string
	accepted atomic.Int32
}

// silentBus listens on a Unix socket, accepts and never answers.
func silentBus(t *testing.T) *silentListener {
	dir, err := os.MkdirTemp("", "bus") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s := &silentListener{addr: "unix:path=" + path}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		os.RemoveAll(dir)
	})
	return s
}

// BenchmarkKeyringGet is the cached token read as a fresh process does it:
// connect, read, disconnect.
func BenchmarkKeyringGet(b *testing.B) {
	requireSecretService(b)
	key := uniqueKeyringKey(b, "token-")
	if err := gokeyring.Set(Service, key, string(writerEntry(1))); err != nil {
		b.Fatal(err)
	}
	s := NewOSStore(0)
	for b.Loop() {
		if _, err := s.Get(key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGoKeyringGet is go-keyring's Get as a fresh process pays for it:
// its shared session bus connection is closed after each read, so every
// iteration connects again.
func BenchmarkGoKeyringGet(b *testing.B) {
	requireSecretService(b)
	key := uniqueKeyringKey(b, "token-")
	if err := gokeyring.Set(Service, key, string(writerEntry(1))); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := gokeyring.Get(Service, key); err != nil {
			b.Fatal(err)
		}
		if c, err := dbus.SessionBus(); err == nil {
			c.Close()
		}
	}
}

// BenchmarkGoKeyringGetWarm is go-keyring's Get on an already open
// connection, which only a long-lived process (the plugin) sees.
func BenchmarkGoKeyringGetWarm(b *testing.B) {
	requireSecretService(b)
	key := uniqueKeyringKey(b, "token-")
	if err := gokeyring.Set(Service, key, string(writerEntry(1))); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := gokeyring.Get(Service, key); err != nil {
			b.Fatal(err)
		}
	}
}

// TestKeyringRefusedAuthentication: a bus that turns down every
// authentication mechanism is a clear ErrUnreachable, at once. The "bus" is a
// fake: a real dbus-daemon accepts EXTERNAL from its own user.
func TestKeyringRefusedAuthentication(t *testing.T) {
	dir, err := os.MkdirTemp("", "bus")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					if _, err := c.Write([]byte("REJECTED EXTERNAL\r\n")); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+path)
	assertUnavailableWithin(t, NewOSStore(time.Second), time.Second)
	if n := accepted.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// TestSessionBusAddress checks where the bus is looked for, and that getuid
// is left alone when the environment already says.
func TestSessionBusAddress(t *testing.T) {
	withSocket, err := os.MkdirTemp("", "bus") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(withSocket)
	ln, err := net.Listen("unix", filepath.Join(withSocket, "bus"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	socketAddr := "unix:path=" + dbus.EscapeBusAddressValue(filepath.Join(withSocket, "bus"))

	tests := []struct {
		name     string
		env      map[string]string
		want     string
		wantUIDs int
	}{
		{"variable", map[string]string{"DBUS_SESSION_BUS_ADDRESS": "unix:path=/x", "XDG_RUNTIME_DIR": withSocket}, "unix:path=/x", 0},
		{"autolaunch is ignored", map[string]string{"DBUS_SESSION_BUS_ADDRESS": "autolaunch:", "XDG_RUNTIME_DIR": withSocket}, socketAddr, 0},
		{"runtime dir", map[string]string{"XDG_RUNTIME_DIR": withSocket}, socketAddr, 0},
		{"runtime dir without a bus", map[string]string{"XDG_RUNTIME_DIR": privateTempDir(t)}, "", 1},
		{"nothing", nil, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uids := 0
			getuid := func() int { uids++; return -1 } // no /run/user/-1
			got := sessionBusAddress(func(k string) string { return tt.env[k] }, getuid)
			if got != tt.want {
				t.Errorf("sessionBusAddress() = %q, want %q", got, tt.want)
			}
			if uids != tt.wantUIDs {
				t.Errorf("getuid called %d times, want %d", uids, tt.wantUIDs)
			}
		})
	}
}

// TestAutoRemembersHungKeyring: a keyring that hung in one process is not
// asked again by the next ones for a while, so only one invocation pays the
// timeout; after that while it is asked again.
func TestAutoRemembersHungKeyring(t *testing.T) {
	hung := keyringtest.StartHungService(t)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", hung.Addr)
	dir := privateTempDir(t)
	open := func() *AutoStore {
		return openOSAuto(StoreConfig{Dir: dir, Timeout: 300 * time.Millisecond})
	}
	if _, err := open().Get("token-x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("first process: Get = %v, want ErrNotFound from the file store", err)
	}
	calls := hung.Calls()
	if calls != 1 {
		t.Fatalf("the first process asked the keyring %d times, want 1", calls)
	}

	// The next process goes straight to the files.
	next := open()
	if _, err := next.Get("token-x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("next process: Get = %v, want ErrNotFound", err)
	}
	if hung.Calls() != calls {
		t.Errorf("next process asked the hung keyring")
	}
	if r := next.FallbackReason(); !strings.Contains(r, "did not answer") {
		t.Errorf("FallbackReason() = %q", r)
	}

	// Once the memory has passed, the keyring is asked again.
	old := time.Now().Add(-hungMemory - time.Minute)
	if err := os.Chtimes(filepath.Join(dir, hungMarkerName), old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := open().Get("token-x"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if hung.Calls() != calls+1 {
		t.Errorf("after the memory passed the keyring was asked %d more times, want 1", hung.Calls()-calls)
	}
	// An explicit keyring mode ignores the memory: the user asked for it.
	ks, _ := OpenStore(ModeKeyring, StoreConfig{Dir: dir, Timeout: 300 * time.Millisecond})
	if _, err := ks.Get("token-x"); !errors.Is(err, ErrUnreachable) {
		t.Errorf("explicit keyring: Get = %v, want ErrUnreachable", err)
	}
}

// TestAutoDoesNotRememberUnreachableKeyring: no bus fails fast, so there is
// nothing to remember.
func TestAutoDoesNotRememberUnreachableKeyring(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
	dir := privateTempDir(t)
	st := openOSAuto(StoreConfig{Dir: dir, Timeout: 300 * time.Millisecond})
	if _, err := st.Get("token-x"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, hungMarkerName)); !os.IsNotExist(err) {
		t.Errorf("an unreachable keyring left the hung marker: %v", err)
	}
}

// TestKeyringLockedCollection locks the real login collection: the read
// neither unlocks nor prompts; it reports the keyring unavailable at once
// (not as a call that did not answer, which a prompt would end in), for an
// entry in the locked collection and for a missing one that a write would
// have to prompt for. The collection is unlocked again afterwards with the
// session's throwaway password (scripts/keyring-session.sh).
func TestKeyringLockedCollection(t *testing.T) {
	requireSecretService(t)
	if os.Getenv(envPrivateKeyring) != "1" {
		// Locking the login collection would fail the tests that other
		// packages run against the same keyring meanwhile: the test runs
		// again in a keyring of its own.
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", "../scripts/keyring-session.sh", exe, "-test.run", "^TestKeyringLockedCollection$", "-test.v")
		cmd.Env = append(os.Environ(), envPrivateKeyring+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestKeyringLockedCollection") {
			t.Fatalf("in a keyring of its own: %v\n%s", err, out)
		}
		t.Logf("in a keyring of its own:\n%s", out)
		return
	}
	s := NewOSStore(0)
	key := uniqueKeyringKey(t, "token-")
	if err := s.Set(key, []byte("in-a-locked-collection")); err != nil {
		t.Fatal(err)
	}
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() }) // after the unlock below
	var lockedPaths []dbus.ObjectPath
	var prompt dbus.ObjectPath
	err = conn.Object(ssName, ssPath).Call(ssService+".Lock", 0, []dbus.ObjectPath{ssLoginCollection}).Store(&lockedPaths, &prompt)
	if err != nil || len(lockedPaths) != 1 || prompt != "/" {
		t.Fatalf("locking the login collection: %v, %v, prompt %q", err, lockedPaths, prompt)
	}
	t.Cleanup(func() {
		// gnome-keyring's own interface for unlocking without a prompt.
		svc := conn.Object(ssName, ssPath)
		var ignored dbus.Variant
		var session dbus.ObjectPath
		if err := svc.Call(ssService+".OpenSession", 0, "plain", dbus.MakeVariant("")).Store(&ignored, &session); err != nil {
			t.Errorf("opening a session to unlock the login collection again: %v", err)
		}
		password := ssSecret{Session: session, Parameters: []byte{}, Value: []byte("dt-test-keyring"), ContentType: "text/plain"}
		if err := svc.Call("org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface.UnlockWithMasterPassword", 0, dbus.ObjectPath(ssLoginCollection), password).Err; err != nil {
			t.Errorf("unlocking the login collection again: %v", err)
		}
		var v dbus.Variant
		err := conn.Object(ssName, ssLoginCollection).Call("org.freedesktop.DBus.Properties.Get", 0, ssCollection, "Locked").Store(&v)
		if locked, _ := v.Value().(bool); err != nil || locked {
			t.Errorf("the login collection is still locked (%v): later tests would fail", err)
		}
	})

	for _, k := range []string{key, uniqueKeyringKey(t, "token-")} {
		start := time.Now()
		got, err := s.Get(k)
		if !errors.Is(err, ErrUnreachable) || errors.Is(err, errNoAnswer) || !strings.Contains(err.Error(), "locked") {
			t.Errorf("Get from a locked collection = %q, %v; want ErrUnreachable saying it is locked", got, err)
		}
		if d := time.Since(start); d > DefaultOSTimeout/2 {
			t.Errorf("Get from a locked collection took %v: it waited for something", d)
		}
	}

	// Nor does a write: go-keyring's Set unlocked the collection first,
	// which waits for a prompt.
	start := time.Now()
	err = s.Set(uniqueKeyringKey(t, "token-"), []byte("into-a-locked-collection"))
	if !errors.Is(err, ErrUnreachable) || errors.Is(err, errNoAnswer) || !strings.Contains(err.Error(), "locked") {
		t.Errorf("Set into a locked collection = %v; want ErrUnreachable saying it is locked, without waiting for a prompt", err)
	}
	if d := time.Since(start); d > DefaultOSTimeout/2 {
		t.Errorf("Set into a locked collection took %v: it waited for something", d)
	}

	// Delete, which the auto store calls after every write elsewhere, must
	// not unlock (a prompt nobody answers) either.
	err = s.Delete(key)
	if !errors.Is(err, ErrUnreachable) || errors.Is(err, errNoAnswer) || !strings.Contains(err.Error(), "locked") {
		t.Errorf("Delete from a locked collection = %v; want ErrUnreachable saying it is locked, without waiting for a prompt", err)
	}
}

// openOSAuto is the auto mode's OS keyring over the files of cfg.Dir.
func openOSAuto(cfg StoreConfig) *AutoStore {
	return osAuto(NewOSStore(cfg.Timeout), NewFileStore(cfg.Dir), cfg)
}
