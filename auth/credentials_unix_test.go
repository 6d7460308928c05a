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

// The credentials file holds the secret: it is trusted as OpenSSH trusts a
// private key, only when it is a file of ours that group and others cannot
// read (the advice is chmod 600, the user's own file), and only when the
// directories it is looked up through are ours or root's and closed to
// others' writes unless sticky (no advice to re-mode those: the program
// did not make them). Each refusal is a *ConfigError (exit 2) naming the
// culprit, and quotes nothing of the file.
func TestCredentialsFileTrust(t *testing.T) {
	const content = `{"serviceAccount":{"keyId":"k","secret":"s3cr3t-value","email":"e"}}`
	write := func(t *testing.T, dir string, mode os.FileMode) string {
		p := filepath.Join(dir, "credentials.json")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mkdir := func(t *testing.T, p string, mode os.FileMode) string {
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	needRoot := func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("giving a file to another user needs root")
		}
	}
	tests := []struct {
		name string
		// setup returns the file to read and what the error must name
		// and say ("" for none: the file must be read).
		setup         func(t *testing.T, base string) (path, culprit string)
		want, wantNot string
	}{
		{name: "0600", setup: func(t *testing.T, base string) (string, string) {
			return write(t, base, 0o600), ""
		}},
		{name: "0400", setup: func(t *testing.T, base string) (string, string) {
			return write(t, base, 0o400), ""
		}},
		{name: "0640", setup: func(t *testing.T, base string) (string, string) {
			p := write(t, base, 0o640)
			return p, p
		}, want: "chmod 600 "},
		{name: "0644", setup: func(t *testing.T, base string) (string, string) {
			p := write(t, base, 0o644)
			return p, p
		}, want: "chmod 600 "},
		{name: "0604", setup: func(t *testing.T, base string) (string, string) {
			p := write(t, base, 0o604)
			return p, p
		}, want: "chmod 600 "},
		{name: "another user's, 0600", setup: func(t *testing.T, base string) (string, string) {
			needRoot(t)
			p := write(t, base, 0o600)
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return p, p
		}, want: "another user", wantNot: "chmod"},
		{name: "in a sticky world-writable directory, as /tmp", setup: func(t *testing.T, base string) (string, string) {
			return write(t, mkdir(t, filepath.Join(base, "tmp"), os.ModeSticky|0o777), 0o600), ""
		}},
		{name: "under a group-writable directory", setup: func(t *testing.T, base string) (string, string) {
			shared := mkdir(t, filepath.Join(base, "shared"), 0o775)
			return write(t, mkdir(t, filepath.Join(shared, "me"), 0o755), 0o600), shared
		}, want: "group or others can write", wantNot: "chmod"},
		{name: "in a directory of another user's", setup: func(t *testing.T, base string) (string, string) {
			needRoot(t)
			theirs := mkdir(t, filepath.Join(base, "theirs"), 0o755)
			p := write(t, theirs, 0o600)
			if err := os.Chown(theirs, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return p, theirs
		}, want: "uid 65534", wantNot: "chmod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, culprit := tt.setup(t, t.TempDir())
			c, err := ReadCredentialsFile(path)
			if culprit == "" {
				if err != nil || c.Secret != "s3cr3t-value" {
					t.Fatalf("ReadCredentialsFile = %v; want the file read", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("ReadCredentialsFile = %v; want a *ConfigError", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, culprit) || !strings.Contains(msg, tt.want) || (tt.wantNot != "" && strings.Contains(msg, tt.wantNot)) {
				t.Errorf("error %q: want it to name %s and say %q, not %q", msg, culprit, tt.want, tt.wantNot)
			}
			if tt.want == "chmod 600 " && !strings.Contains(msg, "chmod 600 "+path) {
				t.Errorf("error %q: want the advice chmod 600 %s", msg, path)
			}
			if strings.Contains(msg, "s3cr3t-value") {
				t.Errorf("error %q quotes the secret", msg)
			}
		})
	}
}
