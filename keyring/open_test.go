package keyring

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestParseMode(t *testing.T) {
	tests := []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{"", ModeAuto, false},
		{"auto", ModeAuto, false},
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
			if err != nil && !strings.Contains(err.Error(), "auto, keyring, file or none") {
				t.Errorf("error does not list the valid modes: %v", err)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	t.Setenv("DT_CACHE_DIR", t.TempDir())
	tests := []struct {
		mode     Mode
		wantName string
		wantErr  bool
	}{
		{ModeAuto, "keyring", false},
		{ModeKeyring, "keyring", false},
		{ModeFile, "file", false},
		{ModeNone, "none", false},
		{"bogus", "", true},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			s, err := Open(tt.mode, Options{})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Open(%q) error = %v", tt.mode, err)
			}
			if err == nil && s.Name() != tt.wantName {
				t.Errorf("Open(%q).Name() = %q, want %q", tt.mode, s.Name(), tt.wantName)
			}
		})
	}
	t.Run("file store uses DT_CACHE_DIR", func(t *testing.T) {
		dir := t.TempDir()
		t.Setenv("DT_CACHE_DIR", dir)
		s, err := Open(ModeFile, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.(*FileStore).Dir(); got != dir {
			t.Errorf("Dir() = %q, want %q", got, dir)
		}
	})
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
	data           map[string][]byte
	getErr, setErr error
	calls          int
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
	f.data[key] = data
	return nil
}

func (f *fakeKeyring) Delete(key string) error {
	f.calls++
	if f.getErr != nil {
		return f.getErr
	}
	delete(f.data, key)
	return nil
}

func (f *fakeKeyring) Name() string { return "keyring" }

func TestAutoStore(t *testing.T) {
	unavailable := fmt.Errorf("%w: no D-Bus session bus", ErrUnavailable)
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
		{name: "entry too big", setErr: tooBig, wantFile: true, wantKeyringOps: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr := &fakeKeyring{data: map[string][]byte{}, getErr: tt.getErr, setErr: tt.setErr}
			files := NewFileStore(t.TempDir())
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
			if tt.wantReason != "" {
				wantName = "file (" + tt.wantReason + ")"
				if !strings.Contains(logs.String(), "level=DEBUG") || strings.Count(logs.String(), "keyring unavailable, using files") != 1 {
					t.Errorf("want the fallback logged once at Debug; log:\n%s", logs.String())
				}
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
	files := NewFileStore(t.TempDir())
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
	s, err := Open(ModeAuto, Options{Dir: t.TempDir(), Timeout: 100 * time.Millisecond})
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
