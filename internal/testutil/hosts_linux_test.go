package testutil

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestWithHosts: a name only the given hosts file knows resolves in the
// command, the machine's /etc/hosts is left as it was, and this process
// still sees the machine's.
func TestWithHosts(t *testing.T) {
	before, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Skipf("no /etc/hosts: %v", err)
	}
	const name = "dt-withhosts.test"
	if bytes.Contains(before, []byte(name)) {
		t.Fatalf("/etc/hosts already names %s", name)
	}
	cmd := exec.Command("getent", "hosts", name)
	if _, err := exec.LookPath("getent"); err != nil {
		cmd = exec.Command("cat", "/etc/hosts")
	}
	if err := WithHosts(t, cmd, "127.0.0.1 "+name+"\n"); err != nil {
		t.Skip(err)
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "127.0.0.1") || !strings.Contains(string(out), name) {
		t.Errorf("in the command, %s: %v %q, want 127.0.0.1", name, err, out)
	}
	after, err := os.ReadFile("/etc/hosts")
	if err != nil || !bytes.Equal(after, before) {
		t.Errorf("/etc/hosts changed: %v\n%s", err, after)
	}
}
