//go:build unix

package scripts_test

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadmeTryByHand installs the helper and the emulator with
// install.sh --emulator and runs the README's "Try it by hand" block as
// written, on a free port instead of 8089.
func TestReadmeTryByHand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the helper and the emulator")
	}
	for _, tool := range []string{"bash", "curl", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	var block string
	for _, f := range fences(t, filepath.Join("..", "README.md")) {
		if f.lang == "sh" && strings.HasPrefix(f.heading, "Try it by hand") {
			block = f.body
			break
		}
	}
	if !strings.Contains(block, "127.0.0.1:8089") {
		t.Fatalf("no sh block using 127.0.0.1:8089 under \"Try it by hand\":\n%s", block)
	}

	prefix := t.TempDir()
	out, err := exec.Command("bash", "install.sh", "--emulator", prefix).CombinedOutput()
	if err != nil {
		t.Fatalf("install.sh --emulator: %v\n%s", err, out)
	}
	emulator := filepath.Join(prefix, "bin", "dt-identity-emulator")
	if !strings.Contains(string(out), emulator) {
		t.Errorf("install.sh does not say it installed %s:\n%s", emulator, out)
	}
	if fi, err := os.Stat(emulator); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("%s: %v, want an executable, mode 0755", emulator, err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command("bash", "-e", "-c", strings.ReplaceAll(block, "127.0.0.1:8089", addr))
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(prefix, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	// A process group, so that cleanup stops the emulator if the block
	// fails before its kill.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the block did not finish:\n%s", stdout.String())
	}
	if err != nil {
		t.Fatalf("the block failed: %v\n%s", err, stdout.String())
	}
	got := stdout.String()
	m := regexp.MustCompile(`"Username":"oauth2accesstoken","Secret":"([^"]+)"`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("docker-credential-dt get printed no credentials:\n%s", got)
	}
	token := m[1]
	for _, want := range []string{
		"\n" + token + "\n", // dt-credential-helper token -o token
		`{"ok":true}`,       // the emulator's API took the header
		"username=oauth2accesstoken\npassword=" + token + "\n",
		"try-key", // status
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the block's output lacks %q:\n%s", want, got)
		}
	}
}
