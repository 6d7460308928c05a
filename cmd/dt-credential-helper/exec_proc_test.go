//go:build linux

package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
)

// procProbeScript reports, for the command exec runs, which process
// environments it can read hold DT_SERVICE_ACCOUNT_SECRET: its own, its
// parent's, and every process of this run (those whose environment carries
// the run's marker, DT_TEST_RUN). It counts the variable by name, so the
// secret itself is never printed. Then it waits for stdin to close, so the
// test can look at the process tree from outside while the command runs.
const procProbeScript = `
count() { tr '\0' '\n' 2>/dev/null <"$1" | grep -c "^$2=" ; }
echo "uid $(id -u) pid $$ ppid $PPID"
echo "self secret $(count /proc/$$/environ DT_SERVICE_ACCOUNT_SECRET) token $(count /proc/$$/environ DT_ACCESS_TOKEN) cookie $(count /proc/$$/environ DT_CREDENTIAL_HELPER_PLUGIN)"
if tr '\0' '\n' >/dev/null 2>&1 </proc/$PPID/environ; then
	echo "parent readable secret $(count /proc/$PPID/environ DT_SERVICE_ACCOUNT_SECRET)"
else
	echo "parent unreadable"
fi
for d in /proc/[0-9]*; do
	if tr '\0' '\n' 2>/dev/null <"$d/environ" | grep -qx "DT_TEST_RUN=$DT_TEST_RUN"; then
		echo "run ${d#/proc/} secret $(count "$d/environ" DT_SERVICE_ACCOUNT_SECRET)"
	fi
done
echo done
read _
exit 0
`

// TestExecSecretNotInProc: the command exec runs, as an ordinary user, cannot
// find the service account secret in /proc: not in its own environment, not
// in its parent's, not in any process of the helper. The helper and its
// command run as nobody, the same uid, which is the case that matters: /proc
// lets a process read the environment of every process of its own uid.
func TestExecSecretNotInProc(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the helper as another user (nobody)")
	}
	idp := authtest.NewServer(testAccount)
	defer idp.Close()

	// Everything nobody needs, outside the root-only test directories.
	root, err := os.MkdirTemp("", "dt-exec-proc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, prog)
	copyFile(t, binary, bin, 0o755)
	home := filepath.Join(root, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	marker := make([]byte, 8)
	_, _ = rand.Read(marker)
	run := hex.EncodeToString(marker)
	env := withEnv(baseEnv(t, idp.TokenURL()),
		"HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		"DT_CACHE_DIR="+filepath.Join(home, "cache"),
		"DT_TEST_RUN="+run,
		// A leaked plugin cookie must not reach the command either.
		"DT_CREDENTIAL_HELPER_PLUGIN=dt-token-provider")

	cmd := exec.Command(bin, "exec", "--", "sh", "-c", procProbeScript)
	cmd.Env = env
	cmd.Dir = home
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}, Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	helper := cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(-helper, syscall.SIGKILL)
		if cmd.ProcessState == nil {
			_ = cmd.Wait()
		}
	})

	lines := make(chan []string, 1)
	go func() {
		var got []string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			got = append(got, sc.Text())
			if sc.Text() == "done" {
				break
			}
		}
		lines <- got
	}()
	var report []string
	select {
	case report = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatalf("the command did not report; stderr %q", stderr.String())
	}
	if len(report) == 0 || report[len(report)-1] != "done" {
		t.Fatalf("the command's report is incomplete: %q; stderr %q", report, stderr.String())
	}

	// Seen from outside, as root, while the command runs: no process in the
	// tree that started as the helper holds the secret.
	for _, pid := range leakTree(helper) {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
		if err != nil {
			continue // gone
		}
		if bytes.Contains(b, []byte("\x00DT_SERVICE_ACCOUNT_SECRET=")) || bytes.HasPrefix(b, []byte("DT_SERVICE_ACCOUNT_SECRET=")) {
			t.Errorf("process %d (%s), started as the helper or by it, holds DT_SERVICE_ACCOUNT_SECRET while the command runs", pid, procComm(pid))
		}
	}
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("exec: %v; stderr %q", err, stderr.String())
	}

	t.Logf("the command's report:\n%s", strings.Join(report, "\n"))
	want := map[string]bool{
		"uid " + strconv.Itoa(nobody) + " pid " + strconv.Itoa(helper) + " ppid " + strconv.Itoa(os.Getpid()): false,
		"self secret 0 token 1 cookie 0": false,
	}
	for _, line := range report {
		if _, ok := want[line]; ok {
			want[line] = true
			continue
		}
		switch {
		case line == "done", line == "parent unreadable", line == "parent readable secret 0":
		case strings.HasPrefix(line, "run ") && strings.HasSuffix(line, " secret 0"):
		case strings.HasPrefix(line, "uid "):
			t.Errorf("the command runs as %q, want uid %d, the helper's own pid %d (the helper became the command) and the test as its parent (pid %d)",
				line, nobody, helper, os.Getpid())
		default:
			t.Errorf("the command found DT_SERVICE_ACCOUNT_SECRET in /proc, or lacks its token: %q", line)
		}
	}
	for line, seen := range want {
		if !seen && !strings.HasPrefix(line, "uid ") {
			t.Errorf("the command did not report %q", line)
		}
	}
	if n := idp.Requests(); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

// procComm is the command name of pid, for messages.
func procComm(pid int) string {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	return strings.TrimSpace(string(b))
}

// copyFile copies src to dst with mode perm.
func copyFile(t *testing.T, src, dst string, perm os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
