package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// WithHosts makes cmd run with hosts as its /etc/hosts: cmd is rewritten to
// start through unshare(1) in a private mount namespace where a file
// holding hosts is bind-mounted over /etc/hosts, for cmd and its children
// only. The machine's /etc/hosts is never changed, and what it holds does
// not matter. Go's resolver reads /etc/hosts before DNS, so a name given
// here resolves in cmd without any lookup leaving the machine.
//
// As root the namespace is made directly; otherwise in a user namespace of
// its own where cmd runs as root (uid 0 mapped to the caller's uid, so the
// files it owns are the caller's). Where neither
// can be made (no unshare or mount, or namespaces refused, as in a container
// without CAP_SYS_ADMIN) it returns why and leaves cmd alone.
func WithHosts(tb testing.TB, cmd *exec.Cmd, hosts string) error {
	tb.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return fmt.Errorf("cannot give the command a /etc/hosts of its own: %w", err)
	}
	if _, err := exec.LookPath("mount"); err != nil {
		return fmt.Errorf("cannot give the command a /etc/hosts of its own: %w", err)
	}
	file := filepath.Join(tb.TempDir(), "hosts")
	if err := os.WriteFile(file, []byte(hosts), 0o644); err != nil {
		tb.Fatal(err)
	}
	prefix := []string{unshare, "--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		prefix = append(prefix, "--map-root-user")
	}
	// $0 is the hosts file, "$@" the command.
	prefix = append(prefix, "--", "sh", "-c", `mount --bind "$0" /etc/hosts && exec "$@"`, file)

	probe := exec.Command(prefix[0], append(prefix[1:], "cat", "/etc/hosts")...)
	if out, err := probe.CombinedOutput(); err != nil || !bytes.Equal(out, []byte(hosts)) {
		return fmt.Errorf("cannot give the command a /etc/hosts of its own (unshare --mount): %v: %s", err, bytes.TrimSpace(out))
	}
	cmd.Args = append(prefix, append([]string{cmd.Path}, cmd.Args[1:]...)...)
	cmd.Path = unshare
	return nil
}
