//go:build unix

package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The credentials file is opened without blocking (a FIFO in its place is
// refused, not waited on) and without following a final symlink, and must
// be a regular file.
func TestCredentialsFileNotRegular(t *testing.T) {
	good := writeFile(t, `{"serviceAccount":{"keyId":"k","secret":"s","email":"e"}}`)
	tests := []struct {
		name string
		make func(t *testing.T, path string)
		want string
	}{
		{"FIFO", func(t *testing.T, p string) {
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
		{"symlink to a good file", func(t *testing.T, p string) {
			if err := os.Symlink(good, p); err != nil {
				t.Fatal(err)
			}
		}, "symbolic link"},
		{"directory", func(t *testing.T, p string) {
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "credentials.json")
			tt.make(t, path)
			done := make(chan error, 1)
			go func() {
				_, err := ReadCredentialsFile(path)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				t.Fatal("ReadCredentialsFile did not return: blocked opening the file")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("ReadCredentialsFile = %v; want a *ConfigError naming the file and saying %q", err, tt.want)
			}
		})
	}
	if _, err := ReadCredentialsFile(good); err != nil {
		t.Errorf("a regular file: %v", err)
	}
}
