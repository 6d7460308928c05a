package keyring

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseMode(t *testing.T) {
	tests := []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{"", ModeAuto, false},
		{"auto", ModeAuto, false},
		{"kernel", ModeKernel, false},
		{"keyring", ModeKeyring, false},
		{"file", ModeFile, false},
		{"none", ModeNone, false},
		{"Keyring", "", true},
		{"disk", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMode(tt.in)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Fatalf("ParseMode(%q) = %q, %v", tt.in, got, err)
			}
			if err != nil && !strings.HasSuffix(err.Error(), ": want one of auto, kernel, keyring, file, none") {
				t.Errorf("error does not list the valid modes: %v", err)
			}
		})
	}
	if diff := cmp.Diff([]string{"auto", "kernel", "keyring", "file", "none"}, ModeNames()); diff != "" {
		t.Errorf("ModeNames (-want +got):\n%s", diff)
	}
}

func TestOpen(t *testing.T) {
	dir := privateTempDir(t)
	// Linux's auto mode starts with the kernel keyring; elsewhere there is
	// none.
	autoName, kernelErr := "keyring", true
	if runtime.GOOS == "linux" {
		autoName, kernelErr = "kernel", false
	}
	tests := []struct {
		mode     Mode
		wantName string
		wantErr  bool
	}{
		{ModeAuto, autoName, false},
		{ModeKernel, "kernel", kernelErr},
		{ModeKeyring, "keyring", false},
		{ModeFile, "file", false},
		{ModeNone, "none", false},
		{"bogus", "", true},
	}
	tested := map[Mode]bool{}
	for _, tt := range tests {
		tested[tt.mode] = true
		t.Run(string(tt.mode), func(t *testing.T) {
			s, err := OpenStore(tt.mode, StoreConfig{Dir: dir})
			if (err != nil) != tt.wantErr {
				t.Fatalf("OpenStore(%q) error = %v", tt.mode, err)
			}
			if err == nil && s.Name() != tt.wantName {
				t.Errorf("OpenStore(%q).Name() = %q, want %q", tt.mode, s.Name(), tt.wantName)
			}
		})
	}
	for _, m := range ModeNames() {
		if !tested[Mode(m)] {
			t.Errorf("mode %s has no case here", m)
		}
	}
	t.Run("file store uses Dir", func(t *testing.T) {
		s, err := OpenStore(ModeFile, StoreConfig{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.(*FileStore).dir; got != dir {
			t.Errorf("dir = %q, want %q", got, dir)
		}
	})
	// The caller finds the directory (DefaultDir, with its getenv); OpenStore
	// does not fall back to the process environment.
	for _, mode := range []Mode{ModeFile, ModeAuto, ""} {
		t.Run(fmt.Sprintf("%q needs Dir", mode), func(t *testing.T) {
			t.Setenv("DT_CACHE_DIR", privateTempDir(t))
			if s, err := OpenStore(mode, StoreConfig{}); err == nil {
				t.Errorf("OpenStore(%q) without Dir = %s store, want an error", mode, s.Name())
			}
		})
	}
}

func TestNoneStore(t *testing.T) {
	var s NoneStore
	if err := s.Set("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get = %v, want ErrNotFound", err)
	}
	if err := s.Delete("k"); err != nil {
		t.Fatal(err)
	}
}

// fakeKeyring stands in for the keyring where a test needs it to fail in a
// particular way; the real keyring's failures are tested in
// secretservice_linux_test.go.
type fakeKeyring struct {
	data                   map[string][]byte
	getErr, setErr, delErr error
	// maxSize, when > 0, makes Set refuse larger entries with ErrTooBig, as
	// the macOS and Windows keyrings do.
	maxSize int
	calls   int
}

func (f *fakeKeyring) Get(key string) ([]byte, error) {
	f.calls++
	if f.getErr != nil {
		return nil, f.getErr
	}
	if v, ok := f.data[key]; ok {
		return v, nil
	}
	return nil, ErrNotFound
}

func (f *fakeKeyring) Set(key string, data []byte) error {
	f.calls++
	if f.setErr != nil {
		return f.setErr
	}
	if f.maxSize > 0 && len(data) > f.maxSize {
		return fmt.Errorf("keyring write: %w", ErrTooBig)
	}
	f.data[key] = data
	return nil
}

func (f *fakeKeyring) Delete(key string) error {
	f.calls++
	if f.delErr != nil {
		return f.delErr
	}
	if f.getErr != nil {
		return f.getErr
	}
	delete(f.data, key)
	return nil
}

func (f *fakeKeyring) Name() string { return "keyring" }

func TestAutoStore(t *testing.T) {
	unavailable := fmt.Errorf("%w: no D-Bus session bus", ErrUnreachable)
	tooBig := fmt.Errorf("keyring write: %w", ErrTooBig)
	tests := []struct {
		name           string
		getErr, setErr error
		wantKeyring    bool   // the entry ends up in the keyring
		wantFile       bool   // the entry ends up in a file
		wantReason     string // FallbackReason afterwards
		wantKeyringOps int    // calls that reached the keyring
	}{
		{name: "keyring works", wantKeyring: true, wantKeyringOps: 3},
		{name: "keyring unavailable on read", getErr: unavailable, wantFile: true, wantReason: unavailable.Error(), wantKeyringOps: 1},
		{name: "keyring unavailable on write", setErr: unavailable, wantFile: true, wantReason: unavailable.Error(), wantKeyringOps: 2},
		// Get, Set, the Delete of any older keyring entry, Get.
		{name: "entry too big", setErr: tooBig, wantFile: true, wantKeyringOps: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr := &fakeKeyring{data: map[string][]byte{}, getErr: tt.getErr, setErr: tt.setErr}
			files := NewFileStore(privateTempDir(t))
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			s := NewAutoStore(kr, files, log)

			if _, err := s.Get("k"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("first Get = %v, want ErrNotFound", err)
			}
			if err := s.Set("k", []byte("v")); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Get("k"); err != nil || string(got) != "v" {
				t.Fatalf("Get after Set = %q, %v", got, err)
			}
			_, inKeyring := kr.data["k"]
			_, ferr := files.Get("k")
			if inKeyring != tt.wantKeyring || (ferr == nil) != tt.wantFile {
				t.Errorf("entry in keyring %v, in file %v (%v); want %v, %v", inKeyring, ferr == nil, ferr, tt.wantKeyring, tt.wantFile)
			}
			if got := s.FallbackReason(); got != tt.wantReason {
				t.Errorf("FallbackReason() = %q, want %q", got, tt.wantReason)
			}
			if kr.calls != tt.wantKeyringOps {
				t.Errorf("keyring called %d times, want %d", kr.calls, tt.wantKeyringOps)
			}
			wantName := "keyring"
			wantRead := "keyring, then file" // what a miss reads
			if tt.wantReason != "" {
				wantName = "file (" + tt.wantReason + ")"
				wantRead = wantName
			}
			if got := readFrom(s); got != wantRead {
				t.Errorf("readFrom = %q, want %q", got, wantRead)
			}
			if got := s.Name(); got != wantName {
				t.Errorf("Name() = %q, want %q", got, wantName)
			}
			if strings.Contains(logs.String(), "level=INFO") || strings.Contains(logs.String(), "level=WARN") {
				t.Errorf("auto store logged above Debug:\n%s", logs.String())
			}

			if err := s.Delete("k"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get("k"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get after Delete = %v, want ErrNotFound", err)
			}
		})
	}
}

// TestAutoStoreReadsFileOnKeyringMiss: an entry written to a file (too big
// for the keyring, or by a process that had no keyring) is still found, and
// a keyring write removes the stale file copy.
func TestAutoStoreReadsFileOnKeyringMiss(t *testing.T) {
	kr := &fakeKeyring{data: map[string][]byte{}}
	files := NewFileStore(privateTempDir(t))
	if err := files.Set("k", []byte("from file")); err != nil {
		t.Fatal(err)
	}
	s := NewAutoStore(kr, files, nil)
	if got, err := s.Get("k"); err != nil || string(got) != "from file" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if err := s.Set("k", []byte("in keyring")); err != nil {
		t.Fatal(err)
	}
	if _, err := files.Get("k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("file copy survived a keyring write: %v", err)
	}
	if s.FallbackReason() != "" {
		t.Errorf("a keyring miss caused a fallback: %q", s.FallbackReason())
	}
}

// TestAutoStoreOtherErrors: an error that is neither a miss nor an
// unavailable keyring (a bad key) is returned, not papered over.
func TestAutoStoreOtherErrors(t *testing.T) {
	s, err := OpenStore(ModeAuto, StoreConfig{Dir: privateTempDir(t), Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("../x"); !errors.Is(err, ErrBadKey) {
		t.Errorf("Get(bad key) = %v, want ErrBadKey", err)
	}
	if s.(*AutoStore).FallbackReason() != "" {
		t.Error("a bad key caused a fallback")
	}
}

// TestAutoStoreTooBigReplacesKeyringEntry: an entry that outgrows the
// keyring goes to a file, and the older keyring entry goes away, or it would
// hide the new one (the keyring is read first); an entry that fits again goes
// back to the keyring and leaves no file copy behind.
func TestAutoStoreTooBigReplacesKeyringEntry(t *testing.T) {
	small, big := []byte("small"), []byte(strings.Repeat("b", 64))
	tests := []struct {
		name          string
		writes        [][]byte
		wantKeyring   bool // the last entry is in the keyring
		wantFile      bool // the last entry is in a file
		wantFallbacks bool
	}{
		{name: "small then big", writes: [][]byte{small, big}, wantFile: true},
		{name: "big then small", writes: [][]byte{big, small}, wantKeyring: true},
		{name: "small, big, small", writes: [][]byte{small, big, small}, wantKeyring: true},
		{name: "big, small, big", writes: [][]byte{big, small, big}, wantFile: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr := &fakeKeyring{data: map[string][]byte{}, maxSize: 16}
			files := NewFileStore(privateTempDir(t))
			s := NewAutoStore(kr, files, nil)
			for _, w := range tt.writes {
				if err := s.Set("k", w); err != nil {
					t.Fatalf("Set(%d bytes): %v", len(w), err)
				}
			}
			want := tt.writes[len(tt.writes)-1]
			if got, err := s.Get("k"); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Get = %q, %v; want %q", got, err, want)
			}
			// A new process (a new store over the same backends) sees it too.
			if got, err := NewAutoStore(kr, files, nil).Get("k"); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("next process: Get = %q, %v; want %q", got, err, want)
			}
			kv, inKeyring := kr.data["k"]
			fv, ferr := files.Get("k")
			if inKeyring != tt.wantKeyring || (ferr == nil) != tt.wantFile {
				t.Errorf("entry in keyring %v (%q), in file %v (%q, %v); want %v, %v", inKeyring, kv, ferr == nil, fv, ferr, tt.wantKeyring, tt.wantFile)
			}
			if s.FallbackReason() != "" {
				t.Errorf("a too-big entry caused a fallback: %q", s.FallbackReason())
			}
			if err := s.Delete("k"); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Get("k"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get after Delete = %q, %v; want ErrNotFound", got, err)
			}
		})
	}
}

// TestAutoStoreTooBigKeyringDeleteFails: when the older keyring entry cannot
// be removed, Set says so (it would hide the new file entry), and a keyring
// that stopped answering moves the store to its files.
func TestAutoStoreTooBigKeyringDeleteFails(t *testing.T) {
	big := []byte(strings.Repeat("b", 64))
	tests := []struct {
		name         string
		delErr       error
		wantFallback bool
	}{
		{name: "unavailable", delErr: fmt.Errorf("%w: no answer", ErrUnreachable), wantFallback: true},
		{name: "other error", delErr: errors.New("keyring delete: access denied")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr := &fakeKeyring{data: map[string][]byte{"k": []byte("old")}, maxSize: 16, delErr: tt.delErr}
			files := NewFileStore(privateTempDir(t))
			s := NewAutoStore(kr, files, nil)
			err := s.Set("k", big)
			if !errors.Is(err, tt.delErr) {
				t.Errorf("Set = %v, want it to wrap %v", err, tt.delErr)
			}
			if got, err := files.Get("k"); err != nil || !bytes.Equal(got, big) {
				t.Errorf("file entry = %q, %v; want the new entry", got, err)
			}
			if got := s.FallbackReason() != ""; got != tt.wantFallback {
				t.Errorf("fell back %v, want %v", got, tt.wantFallback)
			}
			if tt.wantFallback {
				if got, err := s.Get("k"); err != nil || !bytes.Equal(got, big) {
					t.Errorf("Get after fallback = %q, %v; want the new entry", got, err)
				}
			}
		})
	}
}

// TestAutoStoreHonoursHungMarker: once a process has found the keyring
// hung, the next ones go straight to the files for Get, Set and Delete
// (logout must not wait the keyring timeout out); an old marker is ignored.
func TestAutoStoreHonoursHungMarker(t *testing.T) {
	ops := []struct {
		name string
		do   func(s *AutoStore) error
		// wantFile says whether the file entry exists afterwards.
		wantFile bool
	}{
		{name: "Get", do: func(s *AutoStore) error { _, err := s.Get("k"); return err }, wantFile: true},
		{name: "Set", do: func(s *AutoStore) error { return s.Set("k", []byte("new")) }, wantFile: true},
		{name: "Delete", do: func(s *AutoStore) error { return s.Delete("k") }, wantFile: false},
	}
	for _, op := range ops {
		for _, recent := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/recent marker %v", op.name, recent), func(t *testing.T) {
				dir := privateTempDir(t)
				kr := &fakeKeyring{data: map[string][]byte{}}
				files := NewFileStore(dir)
				if err := files.Set("k", []byte("old")); err != nil {
					t.Fatal(err)
				}
				s := NewAutoStore(kr, files, nil)
				s.hungMarker = filepath.Join(dir, hungMarkerName)
				if err := os.WriteFile(s.hungMarker, []byte("hung\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if !recent {
					old := time.Now().Add(-hungMemory - time.Minute)
					if err := os.Chtimes(s.hungMarker, old, old); err != nil {
						t.Fatal(err)
					}
				}
				if err := op.do(s); err != nil {
					t.Fatalf("%s: %v", op.name, err)
				}
				if recent {
					if kr.calls != 0 {
						t.Errorf("%s asked the keyring %d times despite a recent hung marker", op.name, kr.calls)
					}
					if r := s.FallbackReason(); !strings.Contains(r, "did not answer") {
						t.Errorf("FallbackReason() = %q", r)
					}
					_, ferr := files.Get("k")
					if (ferr == nil) != op.wantFile {
						t.Errorf("file entry present %v (%v), want %v", ferr == nil, ferr, op.wantFile)
					}
				} else if kr.calls == 0 {
					t.Errorf("%s did not ask the keyring though the marker is old", op.name)
				}
			})
		}
	}
}

// TestAutoStoreFallbackExpires: a keyring that failed is not asked again for
// hungMemory, then it is, so a long-running process (the plugin) comes back
// to the keyring the CLI processes use rather than keeping to files.
func TestAutoStoreFallbackExpires(t *testing.T) {
	unavailable := fmt.Errorf("%w: no D-Bus session bus", ErrUnreachable)
	kr := &fakeKeyring{data: map[string][]byte{}, getErr: unavailable}
	files := NewFileStore(privateTempDir(t))
	s := NewAutoStore(kr, files, nil)
	now := time.Now()
	s.now = func() time.Time { return now }

	if _, err := s.Get("k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get = %v, want ErrNotFound", err)
	}
	if err := s.Set("k", []byte("file")); err != nil {
		t.Fatal(err)
	}
	now = now.Add(hungMemory - time.Second)
	if got, err := s.Get("k"); err != nil || string(got) != "file" {
		t.Fatalf("Get while fallen back = %q, %v", got, err)
	}
	if kr.calls != 1 {
		t.Errorf("keyring asked %d times within hungMemory, want 1", kr.calls)
	}
	if r := s.FallbackReason(); r != unavailable.Error() {
		t.Errorf("FallbackReason() = %q, want %q", r, unavailable.Error())
	}

	// The memory runs out while the keyring still fails: asked once, and
	// the store falls back for another hungMemory.
	now = now.Add(time.Second)
	if got, err := s.Get("k"); err != nil || string(got) != "file" {
		t.Fatalf("Get after the memory ran out = %q, %v", got, err)
	}
	if kr.calls != 2 {
		t.Errorf("keyring asked %d times, want 2: once more after hungMemory", kr.calls)
	}
	now = now.Add(hungMemory - time.Second)
	if _, err := s.Get("k"); err != nil || kr.calls != 2 {
		t.Errorf("Get = %v, keyring asked %d times; want the file, and no new keyring call", err, kr.calls)
	}

	// The keyring is back: once the memory runs out the store uses it, and
	// the next write goes to it and removes the file copy.
	kr.getErr = nil
	now = now.Add(time.Second)
	if got, err := s.Get("k"); err != nil || string(got) != "file" {
		t.Fatalf("Get with the keyring back = %q, %v; want the file entry after a keyring miss", got, err)
	}
	if kr.calls != 3 {
		t.Errorf("keyring asked %d times, want 3", kr.calls)
	}
	if r, n := s.FallbackReason(), s.Name(); r != "" || n != "keyring" {
		t.Errorf("FallbackReason() = %q, Name() = %q; want \"\", \"keyring\"", r, n)
	}
	if err := s.Set("k", []byte("keyring")); err != nil {
		t.Fatal(err)
	}
	if got := string(kr.data["k"]); got != "keyring" {
		t.Errorf("keyring entry = %q, want %q", got, "keyring")
	}
	if _, err := files.Get("k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("file copy survived a keyring write: %v", err)
	}
}

// TestAutoStoreHungMarkerExpires: a fallback for another process's hung
// marker lasts as long as the marker is fresh, not hungMemory from when this
// process noticed it.
func TestAutoStoreHungMarkerExpires(t *testing.T) {
	dir := privateTempDir(t)
	kr := &fakeKeyring{data: map[string][]byte{}}
	s := NewAutoStore(kr, NewFileStore(dir), nil)
	s.hungMarker = filepath.Join(dir, hungMarkerName)
	if err := os.WriteFile(s.hungMarker, []byte("hung\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.hungMarker)
	if err != nil {
		t.Fatal(err)
	}
	now := fi.ModTime().Add(hungMemory - time.Minute)
	s.now = func() time.Time { return now }

	if _, err := s.Get("k"); !errors.Is(err, ErrNotFound) || kr.calls != 0 {
		t.Fatalf("Get = %v, keyring asked %d times; want a file miss and no keyring call", err, kr.calls)
	}
	now = now.Add(time.Minute - time.Second)
	if _, err := s.Get("k"); !errors.Is(err, ErrNotFound) || kr.calls != 0 {
		t.Fatalf("Get = %v, keyring asked %d times; want no keyring call while the marker is fresh", err, kr.calls)
	}
	now = now.Add(time.Second)
	if _, err := s.Get("k"); !errors.Is(err, ErrNotFound) || kr.calls != 1 {
		t.Errorf("Get = %v, keyring asked %d times; want it asked once the marker is stale", err, kr.calls)
	}
	if r := s.FallbackReason(); r != "" {
		t.Errorf("FallbackReason() = %q after the marker went stale", r)
	}
}

// TestAutoPromotesFallbackEntry: under the kernel tier, an entry found only
// in the fallback (written during a fallback period, or after a reboot
// emptied the kernel's keys) is copied into the kernel store, so later
// reads are served by it alone; a primary that may hang gets no such copy.
func TestAutoPromotesFallbackEntry(t *testing.T) {
	for _, promote := range []bool{true, false} {
		primary, fallback := newTestMapStore(), newTestMapStore()
		fallback.m["token-x"] = []byte("entry")
		a := NewAutoStore(primary, fallback, nil)
		a.promote = promote
		got, err := a.Get("token-x")
		if err != nil || string(got) != "entry" {
			t.Fatalf("promote=%v: Get = %q, %v", promote, got, err)
		}
		if _, copied := primary.m["token-x"]; copied != promote {
			t.Errorf("promote=%v: the primary holds a copy: %v", promote, copied)
		}
	}
}

// The auto mode promotes into the kernel tier, where there is one.
func TestOpenAutoPromotesIntoKernel(t *testing.T) {
	s, err := OpenStore(ModeAuto, StoreConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	a, ok := s.(*AutoStore)
	if !ok {
		t.Fatalf("OpenStore(auto) = %T, want *AutoStore", s)
	}
	if want := kernelTier() != nil; a.promote != want {
		t.Errorf("auto store promote = %v, want %v (kernel tier present: %v)", a.promote, want, want)
	}
}

// TestLocationHolder: Holder names the store a read serves an entry from:
// the keyring when it holds it, the files when only they do, not a keyring
// the store has fallen back from (which is not asked again), and "" when
// no store holds it.
func TestLocationHolder(t *testing.T) {
	acct := Account{Endpoint: "https://id.example/oauth2/token", KeyID: "k", Email: "e@example.com"}
	key := acct.Key()
	unavailable := fmt.Errorf("%w: no session", ErrUnreachable)
	tests := []struct {
		name              string
		inKeyring, inFile bool
		keyringErr        error
		want              string
	}{
		{name: "keyring", inKeyring: true, inFile: true, want: "keyring"},
		{name: "file only", inFile: true, want: "file"},
		{name: "nowhere", want: ""},
		{name: "keyring unavailable", inFile: true, keyringErr: unavailable, want: "file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr := &fakeKeyring{data: map[string][]byte{}, getErr: tt.keyringErr}
			dir := t.TempDir()
			if err := os.Chmod(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			files := NewFileStore(dir)
			if tt.inKeyring {
				kr.data[key] = []byte("entry")
			}
			if tt.inFile {
				if err := files.Set(key, []byte("entry")); err != nil {
					t.Fatal(err)
				}
			}
			loc := Location{Store: NewAutoStore(kr, files, nil)}
			// A read first, as status makes: a keyring that fails it is
			// fallen back from.
			loc.Store.Get(key)
			kr.calls = 0
			got, err := loc.Holder(acct)
			if err != nil || got != tt.want {
				t.Errorf("Holder = %q, %v; want %q", got, err, tt.want)
			}
			if tt.keyringErr != nil && kr.calls != 0 {
				t.Errorf("the keyring fallen back from was asked %d times", kr.calls)
			}
		})
	}
}
