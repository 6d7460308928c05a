//go:build linux

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/internal/doctor"
)

// TestDoctorCAFileNotRegular: an SSL_CERT_FILE that is a FIFO (which no
// one writes to) or a directory fails the ca check, saying what it is,
// and doctor does not wait on it; one that is a symbolic link to a PEM
// file is followed, as Go's own read of SSL_CERT_FILE follows it.
func TestDoctorCAFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "ca.pem")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.pem")
	if err := os.Symlink(newTestCA(t, proxiedHost).pemFile, link); err != nil {
		t.Fatal(err)
	}
	env := baseEnv(t, "https://identity.invalid/oauth2/token")
	for _, tc := range []struct {
		file   string
		status doctor.Status
		says   string
	}{
		{fifo, doctor.Fail, "a FIFO, not a regular file"},
		{dir, doctor.Fail, "a directory, not a regular file"},
		{link, doctor.Pass, "(1 certificate)"},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			rep := doctorOffline(t, withEnv(env, "SSL_CERT_FILE="+tc.file, "SSL_CERT_DIR="))
			wantCheck(t, rep, "ca", "", tc.status, "SSL_CERT_FILE="+tc.file, tc.says)
		})
	}
}
