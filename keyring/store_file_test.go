package keyring

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestDefaultDir(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr bool
	}{
		{"DT_CACHE_DIR wins", map[string]string{"DT_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/c", false},
		// A trailing slash would make Lstat follow a symlink at /c.
		{"DT_CACHE_DIR cleaned", map[string]string{"DT_CACHE_DIR": "/c/./d/", "HOME": "/h"}, "/c/d", false},
		{"relative DT_CACHE_DIR refused", map[string]string{"DT_CACHE_DIR": "cache", "HOME": "/h"}, "", true},
		{"dot DT_CACHE_DIR refused", map[string]string{"DT_CACHE_DIR": ".", "HOME": "/h"}, "", true},
		{"XDG_CACHE_HOME", map[string]string{"XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/x/dt-credential-helper", false},
		{"relative XDG_CACHE_HOME is ignored", map[string]string{"XDG_CACHE_HOME": "x", "HOME": "/h"}, "/h/.cache/dt-credential-helper", false},
		{"HOME", map[string]string{"HOME": "/h"}, "/h/.cache/dt-credential-helper", false},
		{"nothing", map[string]string{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DefaultDir(func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr || got != filepath.FromSlash(tt.want) {
				t.Errorf("DefaultDir() = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestFileStoreRoundTrip(t *testing.T) {
	dir := filepath.Join(privateTempDir(t), "a") // missing: created on Set
	s := NewFileStore(dir)
	key := Key("https://example.test/token", "kid", "sa@example.test")

	if _, err := s.Get(key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before Set: err = %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Get created the directory (stat err %v); only Set should", err)
	}
	want := NewEntry(&oauth2.Token{AccessToken: "tok", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, Account{Endpoint: "e", KeyID: "k"}, time.Now()).Encode()
	if err := s.Set(key, want); err != nil {
		t.Fatal(err)
	}
	assertMode(t, dir, fs.ModeDir|0o700)
	assertMode(t, filepath.Join(dir, key), 0o600)
	checkGetReplaceDelete(t, s, key, want)
	assertNoTempFiles(t, dir)
}

// An existing directory is never re-moded (it may be shared: DT_CACHE_DIR
// =/tmp), nor followed when it is a symlink: the store refuses it and
// writes nothing there. (This replaces the old rule, which repaired a
// directory of ours to 0700.)
func TestFileStoreRefusesOpenDirectory(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits")
	}
	open := func(t *testing.T) string {
		dir := filepath.Join(privateTempDir(t), "cache")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o775); err != nil { // past the umask
			t.Fatal(err)
		}
		return dir
	}
	for name, setup := range map[string]func(t *testing.T) (dir, real string){
		"group-writable": func(t *testing.T) (string, string) { d := open(t); return d, d },
		"symlink to a group-writable directory": func(t *testing.T) (string, string) {
			real := open(t)
			link := filepath.Join(privateTempDir(t), "link")
			if err := os.Symlink(real, link); err != nil {
				t.Fatal(err)
			}
			return link, real
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir, real := setup(t)
			err := NewFileStore(dir).Set("k", []byte("v"))
			var perr *PermissionError
			if !errors.As(err, &perr) {
				t.Fatalf("Set = %v, want a *PermissionError", err)
			}
			assertMode(t, real, fs.ModeDir|0o775)
			if des, err := os.ReadDir(real); err != nil || len(des) != 0 {
				t.Errorf("the refused directory holds %d entries (%v), want none", len(des), err)
			}
		})
	}
}

func TestFileStoreRefusesExposedFile(t *testing.T) {
	for _, mode := range []fs.FileMode{0o640, 0o604, 0o660, 0o602, 0o666} {
		t.Run(fmt.Sprintf("%#o", mode), func(t *testing.T) {
			dir := privateTempDir(t)
			s := NewFileStore(dir)
			path := filepath.Join(dir, "k")
			if err := os.WriteFile(path, []byte("planted"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			data, err := s.Get("k")
			var perr *PermissionError
			if !errors.As(err, &perr) || !errors.Is(err, ErrInsecure) || data != nil {
				t.Fatalf("Get = %q, %v; want a *PermissionError and no data", data, err)
			}
			if strings.Contains(err.Error(), "planted") {
				t.Errorf("error quotes the file's contents: %v", err)
			}
			// Refuse and replace: the next Set writes a private file.
			if err := s.Set("k", []byte("fresh")); err != nil {
				t.Fatal(err)
			}
			assertMode(t, path, 0o600)
			if got, err := s.Get("k"); err != nil || string(got) != "fresh" {
				t.Fatalf("Get after Set = %q, %v", got, err)
			}
		})
	}
}

func TestFileStoreRefusesSymlink(t *testing.T) {
	dir := privateTempDir(t)
	target := filepath.Join(privateTempDir(t), "elsewhere")
	if err := os.WriteFile(target, []byte("not ours"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "k")); err != nil {
		t.Fatal(err)
	}
	if data, err := NewFileStore(dir).Get("k"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("Get through a symlink = %q, %v; want an error", data, err)
	}
}

func TestFileStoreRefusesLargeFile(t *testing.T) {
	dir := privateTempDir(t)
	if err := os.WriteFile(filepath.Join(dir, "k"), make([]byte, MaxEntrySize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFileStore(dir).Get("k"); err == nil {
		t.Fatal("Get of an oversized file succeeded")
	}
}

func TestFileStoreFailedWriteLeavesNoTemp(t *testing.T) {
	dir := privateTempDir(t)
	// A directory under the entry's name makes the rename fail.
	if err := os.Mkdir(filepath.Join(dir, "k"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := NewFileStore(dir).Set("k", []byte("v")); err == nil {
		t.Fatal("Set over a directory succeeded")
	}
	assertNoTempFiles(t, dir)
}

func TestKeysAreSafeFileNames(t *testing.T) {
	tests := []struct {
		key string
		ok  bool
	}{
		{Key("https://e", "k", "m"), true},
		{"secret-prod", true},
		{"a.b_c-1", true},
		{"", false},
		{".hidden", false},
		{"..", false},
		{"../escape", false},
		{"a/b", false},
		{`a\b`, false},
		{"a b", false},
		{"tok\n", false},
		{"ключ", false},
		{"token-x.lock", false},
		{strings.Repeat("k", maxKeyLen+1), false},
	}
	dir := privateTempDir(t)
	stores := []Store{NewFileStore(dir), NewOSStore(time.Second)}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.key), func(t *testing.T) {
			err := checkKey(tt.key)
			if (err == nil) != tt.ok {
				t.Fatalf("checkKey(%q) = %v, want ok %v", tt.key, err, tt.ok)
			}
			if tt.ok {
				return
			}
			for _, s := range stores {
				_, gerr := s.Get(tt.key)
				for op, err := range map[string]error{"Get": gerr, "Set": s.Set(tt.key, []byte("v")), "Delete": s.Delete(tt.key)} {
					if !errors.Is(err, ErrBadKey) {
						t.Errorf("%s %s(%q) = %v, want ErrBadKey", s.Name(), op, tt.key, err)
					}
				}
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("bad keys left files behind: %v", entries)
	}
}

// fileWriterEnv tells the re-executed test binary to act as a writer
// process in TestFileStoreConcurrentWriters.
const fileWriterEnv = "DT_TEST_FILE_WRITER"

// TestFileStoreConcurrentWriters has goroutines and other processes replace
// one entry over and over while readers check that every read is a whole
// entry, never a torn or empty one.
func TestFileStoreConcurrentWriters(t *testing.T) {
	dir := privateTempDir(t)
	s := NewFileStore(dir)
	const key = "shared"
	const rounds = 200
	if err := s.Set(key, writerEntry(0)); err != nil {
		t.Fatal(err)
	}

	var procs []*exec.Cmd
	for p := 1; p <= 3; p++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFileStoreWriterProcess$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%s|%d|%d", fileWriterEnv, dir, key, p*1000, rounds))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
	}

	var writers, readers sync.WaitGroup
	stop := make(chan struct{})
	for w := 1; w <= 4; w++ {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range rounds {
				if err := s.Set(key, writerEntry(w*100+i%100)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	reads := make([]int, 4)
	for r := range reads {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				data, err := s.Get(key)
				if err != nil {
					t.Errorf("Get during writes: %v", err)
					return
				}
				if err := checkWriterEntry(data); err != nil {
					t.Errorf("Get during writes: %v", err)
					return
				}
				reads[r]++
			}
		}()
	}
	writers.Wait()
	for _, cmd := range procs {
		if err := cmd.Wait(); err != nil {
			t.Errorf("writer process: %v", err)
		}
	}
	close(stop)
	readers.Wait()
	// Every reader must have read while the writers ran, or the test proved
	// nothing about torn reads.
	for r, n := range reads {
		if n == 0 {
			t.Errorf("reader %d read nothing during the writes", r)
		}
	}
	t.Logf("reads per reader: %v", reads)
	assertNoTempFiles(t, dir)
}

// TestFileStoreWriterProcess is the writer process of
// TestFileStoreConcurrentWriters; it does nothing in a normal run.
func TestFileStoreWriterProcess(t *testing.T) {
	spec := os.Getenv(fileWriterEnv)
	if spec == "" {
		t.Skip("helper process for TestFileStoreConcurrentWriters")
	}
	parts := strings.Split(spec, "|")
	base, _ := strconv.Atoi(parts[2])
	rounds, _ := strconv.Atoi(parts[3])
	s := NewFileStore(parts[0])
	for i := range rounds {
		if err := s.Set(parts[1], writerEntry(base+i%100)); err != nil {
			t.Fatal(err)
		}
	}
}

// writerEntry returns an entry whose token length and letter follow from n,
// so a reader can tell a whole entry from a torn one; sizes vary from a few
// hundred bytes to several KiB.
func writerEntry(n int) []byte {
	tok := strings.Repeat(string(rune('a'+n%26)), 200+(n%50)*150)
	return NewEntry(&oauth2.Token{AccessToken: tok, TokenType: "Bearer", Expiry: time.Unix(1e9, 0)}, Account{Endpoint: "e", KeyID: strconv.Itoa(n)}, time.Unix(1e9-3600, 0)).Encode()
}

func checkWriterEntry(data []byte) error {
	e, err := DecodeEntry(data)
	if err != nil {
		return fmt.Errorf("torn entry (%d bytes): %v", len(data), err)
	}
	n, err := strconv.Atoi(e.KeyID)
	if err != nil {
		return fmt.Errorf("entry has no writer number: %q", e.KeyID)
	}
	if want := writerEntry(n); string(data) != string(want) {
		return fmt.Errorf("entry %d is not what its writer wrote", n)
	}
	return nil
}

func assertMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode() & (fs.ModeType | fs.ModePerm); got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestFileStoreRemovesStaleTemps(t *testing.T) {
	dir := privateTempDir(t)
	s := NewFileStore(dir)
	if err := s.Set("token-a", []byte("old")); err != nil {
		t.Fatal(err)
	}
	// What writers killed before their rename leave behind: one long ago,
	// one a moment ago (maybe still being written), one of another key.
	old := time.Now().Add(-2 * staleTempAge)
	files := map[string]time.Time{
		".token-a.tmp-111": old,
		".token-a.tmp-222": time.Now(),
		".token-b.tmp-333": old,
	}
	for name, mtime := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(`{"v":1,"acc`), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Set("token-a", []byte("new")); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{".token-a.tmp-111": false, ".token-a.tmp-222": true, ".token-b.tmp-333": true} {
		_, err := os.Stat(filepath.Join(dir, name))
		if got := err == nil; got != want {
			t.Errorf("%s exists = %v, want %v", name, got, want)
		}
	}
	if got, err := s.Get("token-a"); err != nil || string(got) != "new" {
		t.Errorf("Get = %q, %v", got, err)
	}
}

// checkGetReplaceDelete checks what every store promises once key holds
// want: Get returns it, Set replaces it, Delete removes it and deleting a
// missing entry is no error.
func checkGetReplaceDelete(t *testing.T, s Store, key string, want []byte) {
	t.Helper()
	if got, err := s.Get(key); err != nil || string(got) != string(want) {
		t.Fatalf("Get = %q, %v; want %q", got, err, want)
	}
	if err := s.Set(key, []byte("replaced")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(key); err != nil || string(got) != "replaced" {
		t.Fatalf("Get after replace = %q, %v", got, err)
	}
	if err := s.Delete(key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: err = %v, want ErrNotFound", err)
	}
	if err := s.Delete(key); err != nil {
		t.Fatalf("Delete of a missing entry: %v", err)
	}
}

// privateTempDir is t.TempDir made private: the cache refuses a directory
// that group or others can get into, and t.TempDir's follow the umask
// (0755 under the usual 022).
func privateTempDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}
