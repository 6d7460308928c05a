package dockerconfig

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

var dtHosts = []string{"api.disruptive-technologies.com", "api.d21s.com"}

// keys returns the top-level keys of a JSON object, in order.
func keys(t *testing.T, data []byte) []string {
	t.Helper()
	members, err := parseObject(data)
	if err != nil {
		t.Fatalf("parsing %s: %v", data, err)
	}
	var out []string
	for _, m := range members {
		out = append(out, m.key)
	}
	return out
}

// members returns the members of a JSON object by key, each value
// compacted (white space only: escapes and number spellings stay).
func membersOf(t *testing.T, data []byte) map[string]string {
	t.Helper()
	members, err := parseObject(data)
	if err != nil {
		t.Fatalf("parsing %s: %v", data, err)
	}
	out := map[string]string{}
	for _, m := range members {
		var b bytes.Buffer
		if err := json.Compact(&b, m.value); err != nil {
			t.Fatal(err)
		}
		out[m.key] = b.String()
	}
	return out
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // whatever the umask
		t.Fatal(err)
	}
}

func setAndSave(t *testing.T, path string, hosts []string, helper string) []Change {
	t.Helper()
	var changes []Change
	err := Edit(context.Background(), path, func(f *File) (bool, error) {
		changes = f.Set(hosts, helper)
		return len(changes) > 0, nil
	})
	if err != nil {
		t.Fatalf("Edit: %v", err)
	}
	return changes
}

// TestNewFile: with no directory and no file, both are made private, and
// the file holds credHelpers alone.
func TestNewFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".docker")
	path := filepath.Join(dir, "config.json")
	changes := setAndSave(t, path, dtHosts, "dt")
	if len(changes) != 2 || changes[0].HadOld || changes[0].New != "dt" {
		t.Errorf("changes %+v, want two new entries", changes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n\t\"credHelpers\": {\n\t\t\"api.disruptive-technologies.com\": \"dt\",\n\t\t\"api.d21s.com\": \"dt\"\n\t}\n}\n"
	if string(data) != want {
		t.Errorf("file:\n%s\nwant:\n%s", data, want)
	}
	if runtime.GOOS != "windows" {
		for p, mode := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != mode {
				t.Errorf("%s: %v, mode %v; want %v", p, err, fi.Mode().Perm(), mode)
			}
		}
	}
	if changes := setAndSave(t, path, dtHosts, "dt"); len(changes) != 0 {
		t.Errorf("second run changes %+v, want none", changes)
	}
	if got := names(t, dir); !slices.Equal(got, []string{".config.json.lock", "config.json"}) {
		t.Errorf("the directory holds %q, want config.json and the lock alone (no temporary file left)", got)
	}
}

// realConfig is a docker configuration as tools leave it: logins, a
// store, proxies, settings this package does not know, spelt as their
// writers spelt them (escapes, a big number, HTML characters).
const realConfig = `{
  "auths": {"registry.example.com": {"auth": "dXNlcjpwYXNz"}, "https://index.docker.io/v1/": {}},
  "credsStore": "desktop",
  "credHelpers": {"gcr.io": "gcloud", "api.d21s.com": "other", "x&y<z>": "\u00e9t\u00e9"},
  "proxies": {"default": {"httpProxy": "http://proxy:3128", "noProxy": "*.local"}},
  "experimental": "enabled",
  "zz-unknown": [1, 2.50, 123456789012345678901234567890, true, null, {"nested": "a\/b"}],
  "aliases": {"builder": "buildx"}
}`

// TestKeepsEveryOtherField: an edit changes the entries it sets and
// nothing else: every other field holds the same JSON (escapes and number
// spellings included) in the same place, credHelpers' other entries too,
// and the file's mode is kept.
func TestKeepsEveryOtherField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	write(t, path, realConfig, 0o640)
	changes := setAndSave(t, path, dtHosts, "dt")
	want := []Change{
		{Host: "api.disruptive-technologies.com", New: "dt"},
		{Host: "api.d21s.com", Old: "other", New: "dt", HadOld: true},
	}
	if !slices.Equal(changes, want) {
		t.Errorf("changes %+v, want %+v", changes, want)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(t, data), keys(t, []byte(realConfig)); !slices.Equal(got, want) {
		t.Errorf("top-level keys %q, want %q (same order)", got, want)
	}
	before, after := membersOf(t, []byte(realConfig)), membersOf(t, data)
	for k, v := range before {
		if k != "credHelpers" && after[k] != v {
			t.Errorf("%s: %s, want %s", k, after[k], v)
		}
	}
	helpers := membersOf(t, []byte(after["credHelpers"]))
	wantHelpers := map[string]string{"gcr.io": `"gcloud"`, "api.d21s.com": `"dt"`, "x&y<z>": `"\u00e9t\u00e9"`, "api.disruptive-technologies.com": `"dt"`}
	if len(helpers) != len(wantHelpers) {
		t.Errorf("credHelpers %v, want %v", helpers, wantHelpers)
	}
	for k, v := range wantHelpers {
		if helpers[k] != v {
			t.Errorf("credHelpers[%q] = %s, want %s", k, helpers[k], v)
		}
	}
	if got := keys(t, []byte(after["credHelpers"])); !slices.Equal(got, []string{"gcr.io", "api.d21s.com", "x&y<z>", "api.disruptive-technologies.com"}) {
		t.Errorf("credHelpers order %q: want the old entries in place, the new one last", got)
	}
	if !strings.Contains(string(data), "\n\t\"auths\": {") {
		t.Errorf("not indented with tabs as docker writes it:\n%s", data)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
			t.Errorf("mode %v, want the file's own 0640", fi.Mode().Perm())
		}
	}
	f, err := Load(path)
	if err != nil || f.CredsStore != "desktop" {
		t.Fatalf("Load: %v, credsStore %q; want desktop, untouched", err, f.CredsStore)
	}
	if changes := f.Set(dtHosts, "dt"); len(changes) != 0 {
		t.Errorf("second run changes %+v, want none", changes)
	}
}

// TestRefusesWhatItCannotRead: a file that is not docker's JSON object, or
// that two readers could read differently, is refused with its name, and
// left as it was.
func TestRefusesWhatItCannotRead(t *testing.T) {
	for name, content := range map[string]string{
		"not json":              `{"auths": {`,
		"an array":              `[{"credHelpers": {}}]`,
		"a string":              `"config"`,
		"duplicate key":         `{"credHelpers": {"a": "x"}, "credHelpers": {"b": "y"}}`,
		"duplicate helper":      `{"credHelpers": {"api.d21s.com": "x", "api.d21s.com": "y"}}`,
		"credHelpers an array":  `{"credHelpers": ["dt"]}`,
		"a helper not a string": `{"credHelpers": {"gcr.io": 1}}`,
		"more after the object": `{"auths": {}} {"credHelpers": {}}`,
		"a byte order mark":     "\ufeff{}",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.json")
			write(t, path, content, 0o600)
			_, err := Load(path)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), path) {
				t.Errorf("Load: %v; want ErrInvalid naming %s", err, path)
			}
			if data, _ := os.ReadFile(path); string(data) != content {
				t.Errorf("the file changed: %q", data)
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "config.json")
		write(t, path, " \n", 0o600)
		if changes := setAndSave(t, path, dtHosts[:1], "dt"); len(changes) != 1 {
			t.Errorf("changes %+v: an empty file is an empty configuration, as docker reads it", changes)
		}
	})
	t.Run("null credHelpers", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "config.json")
		write(t, path, `{"credHelpers": null, "auths": {}}`, 0o600)
		setAndSave(t, path, dtHosts[:1], "dt")
		data, _ := os.ReadFile(path)
		if got := keys(t, data); !slices.Equal(got, []string{"credHelpers", "auths"}) {
			t.Errorf("keys %q: want credHelpers filled in its place", got)
		}
	})
}

// TestNotWrittenWhenChanged: another program's edit between the read and
// the write is not lost: nothing is written.
func TestNotWrittenWhenChanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	write(t, path, `{"auths": {}}`, 0o600)
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Set(dtHosts, "dt")
	other := `{"auths": {"registry.example.com": {"auth": "dXNlcjpwYXNz"}}}`
	write(t, path, other, 0o600)
	if err := f.save(); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Errorf("save: %v; want an error saying the file changed", err)
	}
	if data, _ := os.ReadFile(path); string(data) != other {
		t.Errorf("the other program's edit was lost: %s", data)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("%d entries in the directory, want config.json alone", len(entries))
	}
}

// TestPath: DOCKER_CONFIG, else ~/.docker.
func TestPath(t *testing.T) {
	home := t.TempDir()
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"HOME": home, "USERPROFILE": home}, filepath.Join(home, ".docker", "config.json")},
		{map[string]string{"HOME": home, "USERPROFILE": home, EnvConfig: filepath.Join(home, "d")}, filepath.Join(home, "d", "config.json")},
	} {
		got, err := Path(func(k string) string { return tc.env[k] })
		if err != nil || got != tc.want {
			t.Errorf("Path(%v) = %q, %v; want %q", tc.env, got, err, tc.want)
		}
	}
	if _, err := Path(func(string) string { return "" }); err == nil {
		t.Error("Path without HOME or DOCKER_CONFIG: no error")
	}
}

// names lists dir's entries.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// TestLoadCreatesNothing: reading a configuration whose directory is
// missing (a dry run's, doctor's) gives an empty one and creates nothing;
// an edit then creates the directory, and under a missing parent it
// creates nothing and says so.
func TestLoadCreatesNothing(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, ".docker", "config.json")
	f, err := Load(path)
	if err != nil || len(f.Set(dtHosts, "dt")) != 2 {
		t.Fatalf("Load: %v", err)
	}
	if got := names(t, home); len(got) != 0 {
		t.Fatalf("Load created %q", got)
	}
	deep := filepath.Join(home, "missing", "docker", "config.json")
	err = Edit(context.Background(), deep, func(*File) (bool, error) { return true, nil })
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), filepath.Dir(deep)) {
		t.Errorf("Edit under a missing parent: %v; want it naming %s", err, filepath.Dir(deep))
	}
	if got := names(t, home); len(got) != 0 {
		t.Errorf("Edit under a missing parent created %q", got)
	}
}

// TestEditWaitsForTheLock: an edit waits while another run holds the
// lock, and reads the file only once it has it, so it keeps what that run
// wrote.
func TestEditWaitsForTheLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	write(t, path, `{}`, 0o600)
	unlock, err := privatefile.Lock(context.Background(), lockPath(path), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { setAndSaveErr(path, dtHosts[:1], done) }()
	select {
	case err := <-done:
		t.Fatalf("Edit finished (%v) while the lock was held", err)
	case <-time.After(200 * time.Millisecond):
	}
	// The holder's write, which the waiting edit must keep.
	write(t, path, `{"credHelpers": {"held.example.com": "other"}}`, 0o600)
	unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{"held.example.com": "other", dtHosts[0]: "dt"} {
		if got, _ := f.Helper(host); got != want {
			t.Errorf("%s: helper %q, want %q", host, got, want)
		}
	}
}

// setAndSaveErr is setAndSave for another goroutine: it sends Edit's error.
func setAndSaveErr(path string, hosts []string, done chan<- error) {
	done <- Edit(context.Background(), path, func(f *File) (bool, error) {
		return len(f.Set(hosts, "dt")) > 0, nil
	})
}
