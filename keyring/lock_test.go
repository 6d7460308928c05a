package keyring

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/keyringtest"
)

// Environment of the lock-holding child process of TestLockKilledHolder.
const (
	envLockChild = "DT_KEYRING_TEST_LOCK_CHILD"
	envLockDir   = "DT_KEYRING_TEST_LOCK_DIR"
)

func TestLockCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(privateTempDir(t), "locks")
	unlock, err := Lock(t.Context(), dir, "token-abc", time.Second)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	unlock()
	unlock() // a second call must be harmless

	if runtime.GOOS == "windows" {
		return // no Unix permission bits
	}
	for _, c := range []struct {
		path string
		want fs.FileMode
	}{
		{dir, 0o700 | fs.ModeDir},
		{filepath.Join(dir, "token-abc.lock"), 0o600},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			// Also fails if unlock deleted the lock file, which it must not.
			t.Fatalf("stat: %v", err)
		}
		if got := fi.Mode() & (fs.ModePerm | fs.ModeDir); got != c.want {
			t.Errorf("%s: mode %v, want %v", c.path, got, c.want)
		}
	}
}

func TestLockExcludes(t *testing.T) {
	dir := privateTempDir(t)
	unlock, err := Lock(t.Context(), dir, "k", time.Second)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}

	// A second holder, even in the same process, must wait and then give up.
	start := time.Now()
	_, err = Lock(t.Context(), dir, "k", 50*time.Millisecond)
	if !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("second Lock: got %v, want ErrLockTimeout", err)
	}
	if waited := time.Since(start); waited < 50*time.Millisecond || waited > 5*time.Second {
		t.Errorf("second Lock gave up after %v, want about 50ms", waited)
	}

	// Another key is independent.
	unlockOther, err := Lock(t.Context(), dir, "other", 50*time.Millisecond)
	if err != nil {
		t.Fatalf("Lock of another key: %v", err)
	}
	unlockOther()

	// A waiter gets the lock soon after it is released.
	go func() {
		time.Sleep(30 * time.Millisecond)
		unlock()
	}()
	unlock2, err := Lock(t.Context(), dir, "k", 5*time.Second)
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	unlock2()
}

func TestLockContextEnds(t *testing.T) {
	dir := privateTempDir(t)
	unlock, err := Lock(t.Context(), dir, "k", time.Second)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	defer unlock()

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	_, err = Lock(ctx, dir, "k", 10*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrLockTimeout) {
		t.Fatalf("got %v, want the context's error, not ErrLockTimeout", err)
	}
}

func TestLockRejectsBadInput(t *testing.T) {
	dir := privateTempDir(t)
	for _, c := range []struct{ name, dir, key string }{
		{"empty key", dir, ""},
		{"parent", dir, ".."},
		{"slash", dir, "a/b"},
		{"backslash", dir, `a\b`},
		{"absolute", dir, "/etc/passwd"},
		{"no dir", "", "k"},
	} {
		t.Run(c.name, func(t *testing.T) {
			unlock, err := Lock(t.Context(), c.dir, c.key, 10*time.Millisecond)
			if err == nil {
				unlock()
				t.Fatal("Lock succeeded, want an error")
			}
			if errors.Is(err, ErrLockTimeout) {
				t.Errorf("got %v, want an input error", err)
			}
		})
	}
}

func TestLockDirCannotBeMade(t *testing.T) {
	// A regular file where the directory should be: fails for root too,
	// unlike a read-only directory.
	file := filepath.Join(privateTempDir(t), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Lock(t.Context(), filepath.Join(file, "locks"), "k", 10*time.Millisecond)
	if err == nil || errors.Is(err, ErrLockTimeout) {
		t.Fatalf("got %v, want a directory error", err)
	}
}

// TestLockKilledHolder checks that a process killed while holding the lock
// does not block the next one: the kernel drops flock locks with the process.
func TestLockKilledHolder(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := privateTempDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	cmd.Env = append(os.Environ(), envLockChild+"=1", envLockDir+"="+dir)
	cmd.Stderr = os.Stderr
	out := keyringtest.StartDaemon(t, cmd)

	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("child: got %q, %v; want \"locked\"", line, err)
	}
	if _, err := Lock(t.Context(), dir, "k", 50*time.Millisecond); !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("while the child holds the lock: got %v, want ErrLockTimeout", err)
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait() // reports the kill; only the exit matters here

	start := time.Now()
	unlock, err := Lock(t.Context(), dir, "k", 10*time.Second)
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	unlock()
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("took %v to get a dead process's lock, want well under a second", waited)
	}
}

// TestLockHelperProcess is the child of TestLockKilledHolder: it takes the
// lock, says so and waits to be killed. Run normally, it does nothing.
func TestLockHelperProcess(t *testing.T) {
	if os.Getenv(envLockChild) != "1" {
		return
	}
	if _, err := Lock(context.Background(), os.Getenv(envLockDir), "k", 5*time.Second); err != nil {
		os.Stderr.WriteString("child: " + err.Error() + "\n")
		os.Exit(2)
	}
	os.Stdout.WriteString("locked\n")
	time.Sleep(time.Minute) // killed long before
	os.Exit(3)
}
