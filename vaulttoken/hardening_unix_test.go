//go:build unix

package vaulttoken

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestJWTFileFIFO: a FIFO planted as the JWT file is refused at once
// instead of blocking the call past its deadline.
func TestJWTFileFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "jwt")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	src, err := NewSource(Config{Client: client(t, "http://127.0.0.1:1"), Path: "dt/token/prod", JWTFile: fifo, Role: "fleet"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := src.TokenContext(context.Background())
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("error %v, want the FIFO refused as not a regular file", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading a FIFO as the JWT file blocked")
	}
}
