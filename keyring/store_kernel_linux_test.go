//go:build linux

package keyring

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sys/unix"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/keyringtest"
)

// requireKernelKeyring skips when this process may not use keyctl (a
// container's seccomp profile, a kernel without keys). The fallback in that
// case is tested with refusals put in place of the system calls
// (TestKernelRefusedFallsBack), which runs everywhere.
func requireKernelKeyring(t testing.TB) {
	t.Helper()
	_, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "user", KernelDescription("token-probe-absent"), 0)
	if err != nil && !errors.Is(err, unix.ENOKEY) {
		msg := fmt.Sprintf("the kernel keyring is refused here (keyctl: %v); TestKernelRefusedFallsBack covers the fallback", err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI's machine allows keyctl: the kernel keyring tests must run there)")
		}
		t.Skip(msg)
	}
}

// uniqueKernelKey returns a key no other test or run uses, and removes its
// entry from the user keyring afterwards.
func uniqueKernelKey(t testing.TB) string {
	b := make([]byte, 8)
	rand.Read(b)
	key := "token-test-" + hex.EncodeToString(b)
	t.Cleanup(func() { NewKernelStore().Delete(key) })
	return key
}

// kernelEntry is an entry expiring at expiry, as the Cache writes it: a
// token obtained an hour before its expiry.
func kernelEntry(tok string, expiry time.Time) []byte {
	acct := Account{Endpoint: "https://e.example/token", KeyID: "k", Email: "k@example.com"}
	return NewEntry(&oauth2.Token{AccessToken: tok, TokenType: "Bearer", Expiry: expiry}, acct, expiry.Add(-time.Hour)).Encode()
}

func TestKernelStoreRoundTrip(t *testing.T) {
	requireKernelKeyring(t)
	s := NewKernelStore()
	key := uniqueKernelKey(t)
	if _, err := s.Get(key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before Set: err = %v, want ErrNotFound", err)
	}
	if err := s.Delete(key); err != nil {
		t.Fatalf("Delete of a missing entry: %v", err)
	}
	// Bigger than Get's first buffer, so the second read is taken.
	want := kernelEntry(strings.Repeat("t", 6000), time.Now().Add(time.Hour))
	if err := s.Set(key, want); err != nil {
		t.Fatal(err)
	}

	// The key is where keyctl(1) would find it, a "user" key owned by us,
	// with nothing for group and other.
	id, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "user", KernelDescription(key), 0)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, id)
	if err != nil {
		t.Fatal(err)
	}
	// type;uid;gid;perm;description
	f := strings.SplitN(desc, ";", 5)
	if len(f) != 5 || f[0] != "user" || f[1] != strconv.Itoa(os.Getuid()) || f[4] != KernelDescription(key) {
		t.Errorf("key described as %q", desc)
	}
	if perm, err := strconv.ParseUint(f[3], 16, 32); err != nil || perm != kernelKeyPerm || perm&0xffff != 0 {
		t.Errorf("key permissions %s, want %08x (nothing for group and other)", f[3], kernelKeyPerm)
	}

	checkGetReplaceDelete(t, s, key, want)
	if got, err := s.Get(key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete = %d bytes, %v", len(got), err)
	}
}

func TestKernelStoreTooBig(t *testing.T) {
	requireKernelKeyring(t)
	s := NewKernelStore()
	key := uniqueKernelKey(t)
	if err := s.Set(key, make([]byte, kernelMaxPayload+1)); !errors.Is(err, ErrTooBig) {
		t.Fatalf("Set of %d bytes = %v, want ErrTooBig", kernelMaxPayload+1, err)
	}
	if _, err := s.Get(key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after a refused Set = %v, want ErrNotFound", err)
	}
}

func TestKernelTTL(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		data []byte
		want int
	}{
		{"an hour", kernelEntry("x", now.Add(time.Hour)), 3600},
		{"rounded up", kernelEntry("x", now.Add(1500*time.Millisecond)), 2},
		{"expired: a second, never zero (no timeout)", kernelEntry("x", now.Add(-time.Hour)), 1},
		{"not JSON", []byte("v"), int(kernelDefaultTTL / time.Second)},
		{"no expiry", []byte(`{"v":1}`), int(kernelDefaultTTL / time.Second)},
		{"far future", kernelEntry("x", now.AddDate(100, 0, 0)), 1<<31 - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kernelTTL(tt.data, now); got != tt.want {
				t.Errorf("kernelTTL = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestKernelStoreExpires: the kernel drops the key at the entry's expiry,
// with nobody deleting it.
func TestKernelStoreExpires(t *testing.T) {
	requireKernelKeyring(t)
	s := NewKernelStore()
	key := uniqueKernelKey(t)
	expiry := time.Now().Add(time.Second)
	if err := s.Set(key, kernelEntry("short-lived", expiry)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(key); err != nil {
		t.Fatalf("Get before the expiry: %v", err)
	}
	// The kernel counts timeouts in whole seconds: gone within a second
	// after the expiry.
	time.Sleep(time.Until(expiry.Add(1100 * time.Millisecond)))
	if got, err := s.Get(key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after the expiry = %d bytes, %v; want ErrNotFound", len(got), err)
	}
	// A Set after the expiry replaces the dead key.
	if err := s.Set(key, kernelEntry("next", time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(key); err != nil || !strings.Contains(string(got), "next") {
		t.Fatalf("Get after a new Set = %q, %v", got, err)
	}
}

// Environment of the helper process (TestKernelHelperProcess).
const (
	envKernelHelper = "DT_TEST_KERNEL_HELPER" // what to do
	envKernelKey    = "DT_TEST_KERNEL_KEY"
	envKernelWant   = "DT_TEST_KERNEL_WANT" // the entry to read or write
	envKernelID     = "DT_TEST_KERNEL_ID"
	envKernelDir    = "DT_TEST_KERNEL_DIR"
)

// kernelHelper runs this test binary again as TestKernelHelperProcess with
// env, as cred's user when cred is set, and fails the test if it fails.
func kernelHelper(t *testing.T, cred *syscall.Credential, env ...string) {
	t.Helper()
	kernelHelperVia(t, nil, cred, env...)
}

// kernelHelperVia is kernelHelper with the child started through the
// command line prefix (e.g. keyctl session -).
func kernelHelperVia(t *testing.T, prefix []string, cred *syscall.Credential, env ...string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := ""
	if cred != nil {
		// The go test binary lives in a directory only we can enter.
		dir, err = os.MkdirTemp("", "kernel-helper")
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
		exe = copied
	}
	args := append(append([]string{}, prefix...), exe, "-test.run=^TestKernelHelperProcess$", "-test.v")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper process (%s): %v\n%s", strings.Join(env, " "), err, out)
	}
	if !strings.Contains(string(out), "helper done") {
		t.Fatalf("helper process did not run its part:\n%s", out)
	}
}

func copyExecutable(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// requireRoot skips unless a child can be made another user for real.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("not root: cannot run a child as uid 65534")
	}
}

// TestKernelStoreSharedBetweenProcesses: what one process writes another
// reads, both ways; two real processes of the same user.
func TestKernelStoreSharedBetweenProcesses(t *testing.T) {
	requireKernelKeyring(t)
	s := NewKernelStore()
	key := uniqueKernelKey(t)
	want := kernelEntry("written-by-parent", time.Now().Add(time.Hour))
	if err := s.Set(key, want); err != nil {
		t.Fatal(err)
	}
	kernelHelper(t, nil, envKernelHelper+"=read", envKernelKey+"="+key, envKernelWant+"="+string(want))

	key2 := uniqueKernelKey(t)
	want2 := kernelEntry("written-by-child", time.Now().Add(time.Hour))
	kernelHelper(t, nil, envKernelHelper+"=write", envKernelKey+"="+key2, envKernelWant+"="+string(want2))
	if got, err := s.Get(key2); err != nil || string(got) != string(want2) {
		t.Fatalf("parent read of the child's entry = %q, %v", got, err)
	}
}

// TestKernelStoreSessionWithoutUserKeyring: a process whose session
// keyring does not link the user keyring (`keyctl new_session`, a service
// manager's private session) does not possess the keys it adds there, so
// the new key's default permissions would not let it set the key's
// permissions and timeout; it still writes and reads, and its entries are
// shared with the processes of the user's login session.
func TestKernelStoreSessionWithoutUserKeyring(t *testing.T) {
	requireKernelKeyring(t)
	keyctlCmd, err := exec.LookPath("keyctl")
	if err != nil {
		if os.Getenv("DT_TEST_SECRET_SERVICE") == "1" {
			t.Fatal("keyctl(1) is missing though scripts/keyring-session.sh installs keyutils")
		}
		t.Skip("keyctl(1) (keyutils) not installed: cannot start a process in a new session keyring")
	}
	session := []string{keyctlCmd, "session", "-"}
	s := NewKernelStore()
	key := uniqueKernelKey(t)
	want := kernelEntry("written-in-another-session", time.Now().Add(time.Hour))
	kernelHelperVia(t, session, nil, envKernelHelper+"=write", envKernelKey+"="+key, envKernelWant+"="+string(want))
	if got, err := s.Get(key); err != nil || string(got) != string(want) {
		t.Fatalf("read of the other session's entry = %q, %v", got, err)
	}
	kernelHelperVia(t, session, nil, envKernelHelper+"=read", envKernelKey+"="+key, envKernelWant+"="+string(want))
}

// TestKernelStoreOtherUserCannotRead: a process of another uid (65534, for
// real) can neither read nor describe the key, even knowing its id, and its
// own search does not find it.
func TestKernelStoreOtherUserCannotRead(t *testing.T) {
	requireKernelKeyring(t)
	requireRoot(t)
	s := NewKernelStore()
	key := uniqueKernelKey(t)
	if err := s.Set(key, kernelEntry("not-for-nobody", time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	id, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "user", KernelDescription(key), 0)
	if err != nil {
		t.Fatal(err)
	}
	kernelHelper(t, &syscall.Credential{Uid: 65534, Gid: 65534},
		envKernelHelper+"=other-uid", envKernelKey+"="+key, envKernelID+"="+strconv.Itoa(id))
}

// TestKernelQuotaFallsBack fills the per-user key quota for real (as uid
// 65534, whose quota is /proc/sys/kernel/keys/maxkeys and maxbytes, so
// nothing of root's or the machine's settings changes): a write that finds
// it full goes to the next store, and once there is room again a write goes
// back to the kernel and leaves no copy behind.
func TestKernelQuotaFallsBack(t *testing.T) {
	requireKernelKeyring(t)
	requireRoot(t)
	dir, err := os.MkdirTemp("", "kernel-quota")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	kernelHelper(t, &syscall.Credential{Uid: 65534, Gid: 65534},
		envKernelHelper+"=quota", envKernelKey+"="+uniqueKernelKey(t), envKernelDir+"="+dir)
}

// TestKernelHelperProcess is the other process of the tests above. Run
// normally, it does nothing.
func TestKernelHelperProcess(t *testing.T) {
	what := os.Getenv(envKernelHelper)
	if what == "" {
		return
	}
	key, want := os.Getenv(envKernelKey), os.Getenv(envKernelWant)
	s := NewKernelStore()
	switch what {
	case "read":
		if got, err := s.Get(key); err != nil || string(got) != want {
			t.Fatalf("child read %d bytes, %v; want the parent's %d bytes", len(got), err, len(want))
		}
	case "write":
		if err := s.Set(key, []byte(want)); err != nil {
			t.Fatal(err)
		}
	case "other-uid":
		id, _ := strconv.Atoi(os.Getenv(envKernelID))
		buf := make([]byte, 4096)
		if n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0); !errors.Is(err, unix.EACCES) {
			t.Errorf("uid %d read root's key: %d bytes, %v; want EACCES", os.Getuid(), n, err)
		}
		if d, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, id); !errors.Is(err, unix.EACCES) {
			t.Errorf("uid %d described root's key: %q, %v; want EACCES", os.Getuid(), d, err)
		}
		if _, err := s.Get(key); !errors.Is(err, ErrNotFound) {
			t.Errorf("uid %d Get = %v; want ErrNotFound (its own user keyring)", os.Getuid(), err)
		}
	case "quota":
		kernelQuotaChild(t, s, key, os.Getenv(envKernelDir))
	case "refused":
		if _, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "user", "x", 0); !errors.Is(err, unix.EPERM) {
			t.Fatalf("keyctl under the seccomp filter = %v, want EPERM", err)
		}
		if _, err := s.Get(key); !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "seccomp") {
			t.Errorf("kernel Get = %v, want ErrUnreachable naming seccomp", err)
		}
		if err := s.Set(key, []byte("v")); !errors.Is(err, ErrUnreachable) {
			t.Errorf("kernel Set = %v, want ErrUnreachable", err)
		}
		auto := NewAutoStore(s, NewFileStore(os.Getenv(envKernelDir)), nil)
		if err := auto.Set(key, []byte("v")); err != nil {
			t.Fatal(err)
		}
		if got, err := auto.Get(key); err != nil || string(got) != "v" {
			t.Fatalf("auto Get = %q, %v", got, err)
		}
		if n := auto.Name(); !strings.HasPrefix(n, "file (") || !strings.Contains(n, "operation not permitted") {
			t.Errorf("auto Name() = %q, want the file store and the refusal", n)
		}
	default:
		t.Fatalf("unknown helper %q", what)
	}
	t.Log("helper done")
}

func kernelQuotaChild(t *testing.T, s *KernelStore, key, dir string) {
	// The process keyring below belongs to the credentials of the thread
	// that installs it (Linux credentials are per thread): every keyctl on
	// the filler keyring must come from that thread, or it gets EACCES.
	runtime.LockOSThread()
	// The filler keys go into a keyring of their own in the process keyring,
	// so they go when this process does.
	fill, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_PROCESS_KEYRING, 1, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := unix.AddKey("keyring", "dt-test-fill", nil, fill)
	if err != nil {
		t.Fatal(err)
	}
	filled := 0
	for _, size := range []int{2000, 200, 20, 1} {
		for i := 0; ; i++ {
			if _, err := unix.AddKey("user", "f"+strconv.Itoa(size)+"-"+strconv.Itoa(i), make([]byte, size), ring); err != nil {
				if !errors.Is(err, unix.EDQUOT) {
					t.Fatalf("filling the quota: %v", err)
				}
				break
			}
			filled++
		}
	}
	t.Logf("quota full after %d filler keys", filled)

	entry := kernelEntry("quota-test", time.Now().Add(time.Hour))
	if err := s.Set(key, entry); !errors.Is(err, ErrTooBig) {
		t.Fatalf("kernel Set with the quota full = %v, want ErrTooBig", err)
	}
	files := NewFileStore(dir)
	auto := NewAutoStore(s, files, nil)
	if err := auto.Set(key, entry); err != nil {
		t.Fatalf("auto Set with the quota full: %v", err)
	}
	if got, err := files.Get(key); err != nil || string(got) != string(entry) {
		t.Fatalf("the entry is not in the next store: %v", err)
	}
	if got, err := auto.Get(key); err != nil || string(got) != string(entry) {
		t.Fatalf("auto Get = %v", err)
	}
	if n := auto.Name(); n != "kernel" {
		t.Errorf("auto Name() = %q: a full quota must not make the store leave the kernel keyring", n)
	}

	// Room again: the next write goes to the kernel and the file copy goes.
	// The kernel's garbage collector returns the quota a little after the
	// filler keys are cleared.
	if _, err := unix.KeyctlInt(unix.KEYCTL_CLEAR, ring, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if err := auto.Set(key, entry); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(key); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if got, err := s.Get(key); err != nil || string(got) != string(entry) {
		t.Fatalf("kernel Get after room was made = %v", err)
	}
	if _, err := files.Get(key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the file copy stayed: %v", err)
	}
	if err := auto.Delete(key); err != nil {
		t.Fatal(err)
	}
}

// refusingKeyctl is keyctl as a container's seccomp profile leaves it:
// every call fails with err. A fake, because this machine allows keyctl.
func refusingKeyctl(err error) keyctl {
	return keyctl{
		addKey:  func(string, string, []byte, int) (int, error) { return 0, err },
		search:  func(int, string, string, int) (int, error) { return 0, err },
		read:    func(int, []byte) (int, error) { return 0, err },
		setperm: func(int, uint32) error { return err },
		ctl:     func(int, int, int, int, int) (int, error) { return 0, err },
	}
}

// TestKernelRefusedFallsBack: where keyctl is refused (EPERM from Docker's
// seccomp profile, ENOSYS from a kernel without keys), the explicit kernel
// mode fails with ErrUnreachable, and the auto mode moves to its next store
// after one refused call and says why.
func TestKernelRefusedFallsBack(t *testing.T) {
	for _, errno := range []syscall.Errno{unix.EPERM, unix.ENOSYS, unix.EACCES} {
		t.Run(errno.Error(), func(t *testing.T) {
			calls := 0
			refuse := refusingKeyctl(errno)
			search := refuse.search
			refuse.search = func(a int, b, c string, d int) (int, error) { calls++; return search(a, b, c, d) }
			k := &KernelStore{sys: refuse, now: time.Now}
			for op, err := range map[string]error{"Get": second(k.Get("token-x")), "Set": k.Set("token-x", []byte("v")), "Delete": k.Delete("token-x")} {
				if !errors.Is(err, ErrUnreachable) {
					t.Errorf("kernel %s = %v, want ErrUnreachable", op, err)
				}
			}
			calls = 0

			dir := privateTempDir(t)
			auto := NewAutoStore(k, NewFileStore(dir), nil)
			if _, err := auto.Get("token-x"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("auto Get = %v, want ErrNotFound from the file store", err)
			}
			if err := auto.Set("token-x", []byte("v")); err != nil {
				t.Fatal(err)
			}
			if got, err := auto.Get("token-x"); err != nil || string(got) != "v" {
				t.Fatalf("auto Get after Set = %q, %v", got, err)
			}
			if got, err := NewFileStore(dir).Get("token-x"); err != nil || string(got) != "v" {
				t.Fatalf("file store after auto Set = %q, %v", got, err)
			}
			if calls != 1 {
				t.Errorf("the refusing kernel keyring was asked %d times, want 1", calls)
			}
			if n := auto.Name(); !strings.HasPrefix(n, "file (keyring unavailable: kernel keyring search") || !strings.Contains(n, errno.Error()) {
				t.Errorf("Name() = %q, want it to say the kernel keyring was refused", n)
			}
		})
	}
}

func second[T any](_ T, err error) error { return err }

// TestKernelSeccompRefusalFallsBack runs a process under a seccomp filter
// that refuses keyctl with EPERM, as Docker's default profile does: a real
// refusal. The kernel store says it is unavailable and why; the auto store
// moves to its next store and names the reason.
func TestKernelSeccompRefusalFallsBack(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestKernelHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), envKernelHelper+"=refused", envKernelKey+"="+uniqueKernelKey(t), envKernelDir+"="+privateTempDir(t))
	if err := keyringtest.DenyKeyctl(cmd); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "helper done") {
		t.Fatalf("helper under seccomp: %v\n%s", err, out)
	}
}
