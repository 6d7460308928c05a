//go:build linux

package keyring

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/keyringtest"
)

// The tests of the rule that the program talks only to a session bus of its
// own user: another user can listen on a stale DBUS_SESSION_BUS_ADDRESS
// (the bus it named has exited; a tmux or ssh shell still carries it) with a
// dbus-daemon and a gnome-keyring of their own, and would then be handed the
// DT secret and every cached token.

// randomKey is a key no other test uses; it is never written to the test's
// own keyring, so there is nothing to remove afterwards.
func randomKey(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// TestKeyringForeignBus points the session bus address at another user's
// real dbus-daemon and gnome-keyring, over each kind of address a stale one
// can be, and checks that reads, writes, deletes and the auto store's
// probe neither reach that keyring nor get past the bus's authentication:
// the bus counts as no bus at all, and the error says whose it is.
func TestKeyringForeignBus(t *testing.T) {
	foreign := keyringtest.StartForeignBus(t)
	connections := foreign.WatchConnections(t)
	tests := []struct{ name, addr string }{
		{"path in their directory", foreign.PathAddr},
		{"path in /tmp", foreign.TmpAddr},
		{"abstract", foreign.AbstractAddr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DBUS_SESSION_BUS_ADDRESS", tt.addr)
			planted, written := randomKey("token-"), randomKey("secret-")
			foreign.Store(t, "planted-by-another-user", "service", Service, "username", planted)
			before := connections()

			s := NewOSStore(2 * time.Second)
			got, err := s.Get(planted)
			wantRefused(t, "Get", err)
			if string(got) == "planted-by-another-user" {
				t.Error("Get returned the other user's entry")
			}
			wantRefused(t, "Set", s.Set(written, []byte("our-dt-secret")))
			wantRefused(t, "Delete", s.Delete(planted))

			dir := privateTempDir(t)
			auto := openOSAuto(StoreConfig{Dir: dir, Timeout: 2 * time.Second})
			if _, err := auto.Get(planted); !errors.Is(err, ErrNotFound) {
				t.Errorf("auto Get = %v, want ErrNotFound from the file store", err)
			}
			if r := auto.FallbackReason(); !strings.Contains(r, "uid 65534") {
				t.Errorf("FallbackReason() = %q, want it to name the bus's owner, uid 65534", r)
			}
			if err := auto.Set(written, []byte("our-token")); err != nil {
				t.Errorf("auto Set = %v, want it written to a file", err)
			}
			if got, err := NewFileStore(dir).Get(written); err != nil || string(got) != "our-token" {
				t.Errorf("the file store holds %q, %v after auto Set", got, err)
			}

			if n := connections() - before; n != 0 {
				t.Errorf("%d connections got through the other user's bus's authentication, want none", n)
			}
			if n := foreign.Items(t, "service", Service, "username", written); n != 0 {
				t.Errorf("the other user's keyring holds %d items written here", n)
			}
			if n := foreign.Items(t, "service", Service, "username", planted); n != 1 {
				t.Errorf("the other user's keyring holds %d items under the planted key, want its 1 (a Delete reached it)", n)
			}
		})
	}
}

// wantRefused fails t unless err is the refusal of a bus that is not ours:
// no session bus, as far as the callers go, naming the other user.
func wantRefused(t *testing.T, op string, err error) {
	t.Helper()
	if !errors.Is(err, ErrNoSession) || !strings.Contains(fmt.Sprint(err), "uid 65534") {
		t.Errorf("%s = %v, want ErrNoSession naming uid 65534", op, err)
	}
}

// TestKeyringRefusesOtherTransports: addresses whose peer cannot be checked
// are refused before anything is dialled. The TCP listener counts who
// connects to it.
func TestKeyringRefusesOtherTransports(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
			defer c.Close() // held open and silent until the test ends
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	nonce := filepath.Join(privateTempDir(t), "nonce")
	if err := os.WriteFile(nonce, []byte("0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{
		fmt.Sprintf("tcp:host=127.0.0.1,port=%d", port),
		fmt.Sprintf("nonce-tcp:host=127.0.0.1,port=%d,noncefile=%s", port, nonce),
		"unixexec:path=/bin/true",
		"launchd:env=DBUS_LAUNCHD_SESSION_BUS_SOCKET",
		"autolaunch:scope=*user",
		"unix:tmpdir=/tmp",
	} {
		t.Run(addr, func(t *testing.T) {
			t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
			s := NewOSStore(300 * time.Millisecond)
			_, gerr := s.Get("token-x")
			for op, err := range map[string]error{"Get": gerr, "Set": s.Set("token-x", []byte("v")), "Delete": s.Delete("token-x")} {
				if !errors.Is(err, ErrNoSession) {
					t.Errorf("%s = %v, want ErrNoSession", op, err)
				}
			}
		})
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("the TCP listener was connected to %d times, want never", n)
	}
}

// envPeerListen asks TestPeerListenerProcess to listen on the Unix socket
// address it names ("@name" for an abstract one).
const envPeerListen = "DT_TEST_PEER_LISTEN"

// TestPeerListenerProcess is not a test: run by listenAsNobody as another
// user, it listens, prints "listening", then for each connection how many
// bytes it received before the other end closed it and what they began
// with.
func TestPeerListenerProcess(t *testing.T) {
	addr := os.Getenv(envPeerListen)
	if addr == "" {
		t.Skip("helper process for TestKeyringSaysNothingToAnotherUser")
	}
	ln, err := net.Listen("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("listening")
	for {
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c)
		c.Close()
		fmt.Printf("connection: %d bytes %q (%v)\n", len(b), b[:min(len(b), 16)], err)
	}
}

// listenAsNobody runs TestPeerListenerProcess as uid 65534 on addr and
// returns its output lines.
func listenAsNobody(t *testing.T, addr string) <-chan string {
	t.Helper()
	requireRoot(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "peer-helper")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(dir, "keyring.test")
	if err := copyExecutable(exe, copied); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(copied, "-test.run=^TestPeerListenerProcess$", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), envPeerListen+"="+addr)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: keyringtest.Nobody, Gid: keyringtest.Nobody},
		Pdeathsig:  syscall.SIGKILL,
	}
	out := keyringtest.StartDaemon(t, cmd)
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l := sc.Text(); l == "listening" || strings.HasPrefix(l, "connection:") {
				lines <- l
			}
		}
		close(lines)
	}()
	if l := nextLine(t, lines); l != "listening" {
		t.Fatalf("the listener said %q", l)
	}
	return lines
}

func nextLine(t *testing.T, lines <-chan string) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("the listener exited")
		}
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("the listener said nothing within 10s")
	}
	return ""
}

// TestKeyringSaysNothingToAnotherUser: a bus of another user's gets not one
// byte, not even the authentication's opening NUL byte. The "bus" is a plain
// socket that another user's process listens on and reports what it
// received; after the store's calls the test connects itself and says
// "sentinel", so that whatever came before it came from the store.
func TestKeyringSaysNothingToAnotherUser(t *testing.T) {
	dir, err := os.MkdirTemp("", "peer") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, keyringtest.Nobody, keyringtest.Nobody); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, listen, addr string
		// dials is how many connections the three calls make: none to a
		// path socket, refused on its owner before dialling; one each to
		// an abstract socket, refused on SO_PEERCRED.
		dials int
	}{
		{"path", filepath.Join(dir, "bus"), "unix:path=" + filepath.Join(dir, "bus"), 0},
		{"abstract", "@" + dir + "-abstract", "unix:abstract=" + dir + "-abstract", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := listenAsNobody(t, tt.listen)
			t.Setenv("DBUS_SESSION_BUS_ADDRESS", tt.addr)
			s := NewOSStore(time.Second)
			_, gerr := s.Get("token-x")
			for op, err := range map[string]error{"Get": gerr, "Set": s.Set("token-x", []byte("v")), "Delete": s.Delete("token-x")} {
				if !errors.Is(err, ErrNoSession) {
					t.Errorf("%s = %v, want ErrNoSession", op, err)
				}
			}
			sentinel, err := net.Dial("unix", tt.listen)
			if err != nil {
				t.Fatal(err)
			}
			sentinel.Write([]byte("sentinel"))
			sentinel.Close()
			dials := 0
			for {
				l := nextLine(t, lines)
				if strings.Contains(l, `"sentinel"`) {
					break
				}
				dials++
				if !strings.HasPrefix(l, "connection: 0 bytes") {
					t.Errorf("the other user's socket received something from the store: %s", l)
				}
			}
			if dials != tt.dials {
				t.Errorf("the store connected %d times, want %d", dials, tt.dials)
			}
		})
	}
}

// TestBusPeerCheck is the rule itself, case by case: which sockets are
// connected to, which are refused before dialling (busSockets) and which on
// the connected socket's peer (dialPeer).
func TestBusPeerCheck(t *testing.T) {
	requireRoot(t) // sockets and directories of another user
	euid := os.Geteuid()
	top, err := os.MkdirTemp("", "peer") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	// listen serves a socket of ours at path, made in a directory of mode
	// dirMode and owner dirUID, and gives the socket to sockUID.
	listen := func(name string, dirMode os.FileMode, dirUID, sockUID int) string {
		dir := filepath.Join(top, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "bus")
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		for _, c := range []struct {
			p   string
			uid int
		}{{path, sockUID}, {dir, dirUID}} {
			if err := os.Lchown(c.p, c.uid, c.uid); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(dir, dirMode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ours := listen("ours", 0o700, euid, euid)
	link := filepath.Join(top, "ours", "link")
	if err := os.Symlink(ours, link); err != nil {
		t.Fatal(err)
	}
	abstract := "@" + top + "-abstract"
	ln, err := net.Listen("unix", abstract)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	theirs := "@" + top + "-theirs"
	listenAsNobody(t, theirs)
	nobody := keyringtest.Nobody

	tests := []struct {
		name    string
		addr    string
		sockets []string // what busSockets lets through
		refused string   // else in its error
		peer    string   // the socket dialled; "" for the first of sockets
		peerUID int      // -1: dialPeer accepts it
	}{
		{name: "path, ours", addr: "unix:path=" + ours, sockets: []string{ours}, peerUID: -1},
		{name: "abstract, ours", addr: "unix:abstract=" + abstract[1:], sockets: []string{abstract}, peerUID: -1},
		{name: "abstract, theirs", addr: "unix:abstract=" + theirs[1:], sockets: []string{theirs}, peerUID: nobody},
		{name: "escaped path", addr: "unix:path=" + dbusEscape(ours) + ",guid=0123", sockets: []string{ours}, peerUID: -1},
		{name: "socket owned by another user, served by us", addr: "unix:path=" + listen("given", 0o700, euid, nobody),
			refused: "belongs to uid 65534", peer: filepath.Join(top, "given", "bus"), peerUID: -1},
		{name: "in another user's directory", addr: "unix:path=" + listen("their-dir", 0o755, nobody, euid), refused: filepath.Join(top, "their-dir") + " (drwxr-xr-x): a directory above " + filepath.Join(top, "their-dir", "bus") + " owned by uid 65534"},
		{name: "in a directory others may write", addr: "unix:path=" + listen("open-dir", 0o777, euid, euid), refused: "not sticky"},
		{name: "in a sticky directory others may write", addr: "unix:path=" + listen("sticky", 0o777|os.ModeSticky, 0, euid),
			sockets: []string{filepath.Join(top, "sticky", "bus")}, peerUID: -1},
		{name: "symlink to our socket", addr: "unix:path=" + link, refused: "is not a socket"},
		{name: "missing", addr: "unix:path=" + filepath.Join(top, "none"), refused: "does not exist"},
		{name: "tcp", addr: "tcp:host=127.0.0.1,port=1", refused: "tcp transport"},
		{name: "nonce-tcp", addr: "nonce-tcp:host=127.0.0.1,port=1,noncefile=/x", refused: "nonce-tcp transport"},
		{name: "unixexec", addr: "unixexec:path=/bin/sh", refused: "unixexec transport"},
		{name: "listen-only unix address", addr: "unix:runtime=yes", refused: "names no socket"},
		{name: "empty path", addr: "unix:path=", refused: "malformed"},
		{name: "refused, then ours", addr: "tcp:host=127.0.0.1,port=1;unix:path=" + ours, sockets: []string{ours}, peerUID: -1},
		{name: "theirs, then ours", addr: "unix:abstract=" + theirs[1:] + ";unix:path=" + ours, sockets: []string{theirs, ours}, peerUID: nobody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sockets, err := busSockets(tt.addr, euid)
			if tt.refused != "" {
				if !errors.Is(err, ErrNoSession) || !strings.Contains(fmt.Sprint(err), tt.refused) {
					t.Errorf("busSockets = %q, %v; want ErrNoSession saying %q", sockets, err, tt.refused)
				}
			} else if err != nil || !slices.Equal(sockets, tt.sockets) {
				t.Errorf("busSockets = %q, %v; want %q", sockets, err, tt.sockets)
			}
			peer := tt.peer
			if peer == "" && len(tt.sockets) > 0 {
				peer = tt.sockets[0]
			}
			if peer == "" {
				return
			}
			c, err := dialPeer(peer, euid, time.Now().Add(time.Second))
			var perr *peerError
			switch {
			case tt.peerUID < 0 && err != nil:
				t.Errorf("dialPeer(%s) = %v, want it accepted", peer, err)
			case tt.peerUID >= 0 && (!errors.As(err, &perr) || perr.uid != tt.peerUID):
				t.Errorf("dialPeer(%s) = %v, want it refused as served by uid %d", peer, err, tt.peerUID)
			}
			if c != nil {
				c.Close()
			}
		})
	}
}

// dbusEscape escapes every byte of s, as a D-Bus address may.
func dbusEscape(s string) string {
	var b strings.Builder
	for i := range len(s) {
		fmt.Fprintf(&b, "%%%02x", s[i])
	}
	return b.String()
}

// TestKeyringSkipsForeignBusForOurs: an address that lists another user's
// bus before ours is served by ours, and theirs hears nothing.
func TestKeyringSkipsForeignBusForOurs(t *testing.T) {
	requireSecretService(t)
	foreign := keyringtest.StartForeignBus(t)
	connections := foreign.WatchConnections(t)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", foreign.AbstractAddr+";"+os.Getenv("DBUS_SESSION_BUS_ADDRESS"))
	key := uniqueKeyringKey(t, "token-")
	s := NewOSStore(0)
	if err := s.Set(key, []byte("ours")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(key); err != nil || string(got) != "ours" {
		t.Fatalf("Get = %q, %v; want what Set wrote", got, err)
	}
	if err := s.Delete(key); err != nil {
		t.Fatal(err)
	}
	if n := connections(); n != 0 {
		t.Errorf("%d connections got through the other user's bus's authentication, want none", n)
	}
	if n := foreign.Items(t, "service", Service); n != 0 {
		t.Errorf("the other user's keyring holds %d items", n)
	}
}

// TestNoUncheckedBusConnection keeps every D-Bus connection of the programs
// on Linux going through connectBus: neither program links go-keyring, whose
// connection (godbus's shared session bus) cannot be checked, and no source
// file they are built from but sessionbus_linux.go opens a connection with
// godbus.
func TestNoUncheckedBusConnection(t *testing.T) {
	const module = "github.com/dt-credential-helper/dt-credential-helper"
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Dir}} {{.GoFiles}}",
		module+"/cmd/dt-credential-helper", module+"/cmd/dt-credential-helper-plugin")
	cmd.Env = append(os.Environ(), "GOOS=linux")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	opens := regexp.MustCompile(`\bdbus\.(Connect\w*|SessionBus\w*|SystemBus\w*|Dial\w*|NewConn\w*)\(`)
	checked := 0
	for line := range strings.Lines(string(out)) {
		pkg, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		if strings.HasPrefix(pkg, "github.com/zalando/go-keyring") {
			t.Errorf("a program links %s, whose D-Bus connection is not checked", pkg)
		}
		if !strings.HasPrefix(pkg, module) {
			continue
		}
		dir, files, _ := strings.Cut(rest, " ")
		for _, f := range strings.Fields(strings.Trim(files, "[]")) {
			src, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			checked++
			if pkg == module+"/keyring" && f == "sessionbus_linux.go" {
				if !opens.Match(src) {
					t.Error("sessionbus_linux.go opens no connection: the pattern is stale")
				}
				continue
			}
			if m := opens.Find(src); m != nil {
				t.Errorf("%s/%s opens a D-Bus connection itself (%s); use connectBus, which checks the peer", pkg, f, m)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no source files were checked")
	}
}
