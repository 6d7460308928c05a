package vaultenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

// TestUnixAgentListenerOfAnotherUser: a socket that passes every file
// check (root's, in a directory only root can write) but whose listener is
// another user's process is refused on the listener's credentials, which
// the kernel took when it listened, and it receives nothing.
func TestUnixAgentListenerOfAnotherUser(t *testing.T) {
	// Not under t.TempDir(), whose parent uid 65534 cannot enter.
	dir, err := os.MkdirTemp("", "vaultenv-agent-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	chmod(t, dir, 0o777) // for uid 65534 to bind in
	sock := filepath.Join(dir, "agent.sock")
	sq := testutil.StartSquatter(t, "unix", sock)
	chmod(t, dir, 0o700)
	if err := os.Lchown(sock, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := checkSocket(sock); err != nil {
		t.Fatalf("the socket's files are not as this test means them: %v", err)
	}
	err = get(t, "unix://"+sock)
	var re *RefusedError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), sock) || !strings.Contains(err.Error(), fmt.Sprintf("uid %d", testutil.Nobody)) {
		t.Fatalf("error %v, want a refusal naming the socket and uid %d", err, testutil.Nobody)
	}
	if got := sq.Stop(); len(got) != 0 {
		t.Errorf("the listener received %v", got)
	}
}
