package privatefile

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

// TestPeerUID: the uid PeerUID gives is the listener's, ours for our own
// socket and another user's for theirs, whatever the socket file says.
func TestPeerUID(t *testing.T) {
	dial := func(t *testing.T, path string) *net.UnixConn {
		t.Helper()
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*net.UnixConn)
	}
	t.Run("ours", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ours")
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if uid, err := PeerUID(dial(t, path)); err != nil || uid != os.Geteuid() {
			t.Errorf("PeerUID of our own listener = %d, %v; want %d", uid, err, os.Geteuid())
		}
	})
	t.Run("another user's", func(t *testing.T) {
		// Not under t.TempDir(), whose parent uid 65534 cannot enter.
		dir, err := os.MkdirTemp("", "privatefile-peer-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o777); err != nil { // for uid 65534 to bind in
			t.Fatal(err)
		}
		path := filepath.Join(dir, "theirs")
		testutil.StartSquatter(t, "unix", path)
		if uid, err := PeerUID(dial(t, path)); err != nil || uid != testutil.Nobody {
			t.Errorf("PeerUID of uid %d's listener = %d, %v", testutil.Nobody, uid, err)
		}
	})
}
