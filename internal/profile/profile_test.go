package profile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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

func TestParseRejects(t *testing.T) {
	for name, data := range map[string]string{
		"not JSON":      `{"version":1,`,
		"wrong version": `{"version":2,"profiles":{}}`,
		"bad name":      `{"version":1,"profiles":{"../x":{"key_id":"k"}}}`,
		"wrong types":   `{"version":1,"profiles":{"p":{"key_id":5}}}`,
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
