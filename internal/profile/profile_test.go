package profile

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

func TestValidateName(t *testing.T) {
	good := []string{"prod", "a", "A-1", "x.y_z", "0abc", strings.Repeat("a", 64)}
	bad := []string{"", "-prod", ".hidden", "_x", "a/b", "../x", "a b", "ä", "a\x00", strings.Repeat("a", 65), "a:b"}
	for _, n := range good {
		if err := ValidateName(n); err != nil {
			t.Errorf("ValidateName(%q) = %v, want ok", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidateName(n); err == nil {
			t.Errorf("ValidateName(%q) = nil, want an error", n)
		}
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "profiles.json")
	f, err := Load(path)
	if err != nil || len(f.Profiles) != 0 {
		t.Fatalf("missing file: %v, %v", f, err)
	}
	f.Profiles["prod"] = Profile{KeyID: "k", Email: "e@x", TokenEndpoint: "https://t", Hosts: []string{"api.example:8443"}}
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
		} else if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(f, got); diff != "" {
		t.Errorf("(-saved +loaded):\n%s", diff)
	}
	if _, err := got.Get("nope"); !errors.Is(err, ErrUnknown) {
		t.Errorf("Get(nope) = %v, want ErrUnknown", err)
	}
	if diff := cmp.Diff([]string{"prod"}, got.Names()); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
}

// TestSaveRefusesWhatLoadRefuses: a file Load would refuse as too large
// is not written: every command of every profile would fail on it.
func TestSaveRefusesWhatLoadRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config", "profiles.json")
	f := &File{Profiles: map[string]Profile{"prod": {KeyID: "k", Email: "e@x"}}}
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Profiles["big"] = Profile{KeyID: "k2", Email: "e@x", Rotation: &Rotation{KeysBefore: []string{strings.Repeat("k", maxFile)}}}
	if err := f.Save(path); err == nil || !strings.Contains(err.Error(), "1 MiB") {
		t.Fatalf("saving %d bytes of profiles: %v, want it refused", maxFile, err)
	}
	if after, err := os.ReadFile(path); err != nil || string(after) != string(before) {
		t.Fatalf("the profiles file changed (%d bytes, %v)", len(after), err)
	}
	if _, err := Load(path); err != nil {
		t.Fatalf("the profiles file no longer loads: %v", err)
	}
}

func TestDefaultPath(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"XDG_CONFIG_HOME", map[string]string{"XDG_CONFIG_HOME": "/x", "HOME": "/h"}, "/x/dt-credential-helper/profiles.json"},
		{"relative XDG_CONFIG_HOME is ignored", map[string]string{"XDG_CONFIG_HOME": "x", "HOME": "/h"}, "/h/.config/dt-credential-helper/profiles.json"},
		{"HOME", map[string]string{"HOME": "/h"}, "/h/.config/dt-credential-helper/profiles.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DefaultPath(func(k string) string { return tt.env[k] })
			if err != nil || got != filepath.FromSlash(tt.want) {
				t.Errorf("DefaultPath() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// A config directory others can get into is refused, and never re-moded
// (the old rule repaired one of ours to 0700; the design changed: the
// program changes the mode only of a directory it created itself); one
// another user owns is refused too.
func TestSavePrivateDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits: the directory is private by ACL")
	}
	t.Run("ours, group-writable: refused, not re-moded", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "dt-credential-helper")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o775); err != nil { // past the umask
			t.Fatal(err)
		}
		path := filepath.Join(dir, "profiles.json")
		f := &File{Profiles: map[string]Profile{"prod": {KeyID: "k", Email: "e@x"}}}
		var perr *privatefile.PermissionError
		if err := f.Save(path); !errors.As(err, &perr) {
			t.Fatalf("Save = %v, want a *privatefile.PermissionError", err)
		}
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the profiles file was written into the refused directory (lstat: %v)", err)
		}
		if fi, err := os.Stat(dir); err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != 0o775 {
			t.Errorf("refused directory's mode changed to %v", fi.Mode().Perm())
		}
	})
	t.Run("another user's, group-writable: refused", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("giving a directory to another user needs root")
		}
		dir := filepath.Join(t.TempDir(), "dt-credential-helper")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "profiles.json")
		err := (&File{Profiles: map[string]Profile{}}).Save(path)
		var perr *privatefile.PermissionError
		if !errors.As(err, &perr) || !errors.Is(err, privatefile.ErrInsecure) {
			t.Fatalf("Save = %v, want a *privatefile.PermissionError", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the profiles file was written into the refused directory (stat: %v)", err)
		}
		if fi, err := os.Stat(dir); err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != 0o777 {
			t.Errorf("refused directory's mode changed to %v", fi.Mode().Perm())
		}
	})
}

func TestParseRejects(t *testing.T) {
	for name, data := range map[string]string{
		"not JSON":      `{"version":1,`,
		"wrong version": `{"version":2,"profiles":{}}`,
		"bad name":      `{"version":1,"profiles":{"../x":{"key_id":"k"}}}`,
		"wrong types":   `{"version":1,"profiles":{"p":{"key_id":5}}}`,
		"unknown store": `{"version":1,"profiles":{"p":{"key_id":"k","secret_store":"cloud"}}}`,
		"short nonce":   `{"version":1,"profiles":{"p":{"key_id":"k","cache_nonce":"x"}}}`,
		"upper nonce":   `{"version":1,"profiles":{"p":{"key_id":"k","cache_nonce":"0123456789ABCDEF0123456789abcdef"}}}`,
	} {
		if _, err := Parse([]byte(data), "profiles.json"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version":1,"profiles":{"prod":{"key_id":"k","email":"e","hosts":["a:1"]}}}`))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		pf, err := Parse(data, "fuzz")
		if err != nil {
			return
		}
		// Every accepted name is a valid profile name.
		for _, n := range pf.Names() {
			if ValidateName(n) != nil {
				t.Fatalf("accepted invalid name %q", n)
			}
		}
	})
}
