//go:build unix

package vaultenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// agent serves HTTP on a unix socket at dir/agent.sock, answering "ok".
func agent(t *testing.T, dir string) string {
	t.Helper()
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// get makes one request through a transport that dials the agent address
// addr with Dialer.
func get(t *testing.T, addr string) error {
	t.Helper()
	u, socket, err := ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	var d net.Dialer
	tr := &http.Transport{DialContext: Dialer(u, socket, d.DialContext)}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(context.Background(), "GET", u.String()+"/v1/sys/health", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "ok" {
		return fmt.Errorf("answer %q", b)
	}
	return nil
}

// TestUnixAgentSocket: a unix:// agent address is used when the socket and
// its directory are this user's (or root's) and others cannot write the
// directory, unless it is sticky.
func TestUnixAgentSocket(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, dir, sock string)
		want  string // "" for allowed
	}{
		{"private directory", nil, ""},
		{"sticky shared directory", func(t *testing.T, dir, _ string) { chmod(t, dir, 0o777|os.ModeSticky) }, ""},
		{"directory others can write", func(t *testing.T, dir, _ string) { chmod(t, dir, 0o777) }, "writable by group or others"},
		{"directory group can write", func(t *testing.T, dir, _ string) { chmod(t, dir, 0o770) }, "writable by group or others"},
		{"socket of another user", func(t *testing.T, _, sock string) { chown(t, sock, 65534) }, "belongs to uid 65534"},
		{"directory of another user", func(t *testing.T, dir, _ string) { chown(t, dir, 65534) }, "owned by uid 65534"},
		{"a directory above it others can write", func(t *testing.T, dir, _ string) { chmod(t, filepath.Dir(dir), 0o777) }, "group or others can write, and not sticky"},
		{"not a socket", func(t *testing.T, _, sock string) {
			os.Remove(sock)
			if err := os.WriteFile(sock, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not a socket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sock := agent(t, dir)
			if tc.spoil != nil {
				tc.spoil(t, dir, sock)
			}
			err := get(t, "unix://"+sock)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var re *RefusedError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), sock) {
				t.Fatalf("error %v, want a refusal naming %s and saying %q", err, sock, tc.want)
			}
		})
	}
	t.Run("no agent", func(t *testing.T) {
		err := get(t, "unix://"+filepath.Join(t.TempDir(), "agent.sock"))
		var re *RefusedError
		if err == nil || errors.As(err, &re) {
			t.Fatalf("error %v, want a plain failure to connect (an agent that is down)", err)
		}
	})
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func chown(t *testing.T, path string, uid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("giving a file to another user needs root")
	}
	if err := os.Lchown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
}
