//go:build unix

package dockerconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// nobody is the uid of another user, for files that are not ours.
const nobody = 65534

// TestSymlinkedConfig: a config.json that is the user's own symbolic link
// (a dotfiles manager's) is written through: its target is replaced in its
// own directory and the link stays. A dangling one is refused.
func TestSymlinkedConfig(t *testing.T) {
	dotfiles := t.TempDir()
	target := filepath.Join(dotfiles, "docker-config.json")
	write(t, target, `{"auths": {}}`, 0o600)
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	setAndSave(t, path, dtHosts, "dt")
	if dest, err := os.Readlink(path); err != nil || dest != target {
		t.Errorf("the link now %q, %v; want it left pointing at %s", dest, err, target)
	}
	// The lock is docker's directory's, not the dotfiles'.
	if got := names(t, dotfiles); len(got) != 1 {
		t.Errorf("the link's target's directory holds %q, want the target alone", got)
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := f.Helper("api.d21s.com"); !ok || h != "dt" || f.Target != target {
		t.Errorf("through the link: helper %q %v, target %s", h, ok, f.Target)
	}

	dangling := filepath.Join(t.TempDir(), "config.json")
	if err := os.Symlink(filepath.Join(dotfiles, "missing.json"), dangling); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dangling); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Load of a dangling link: %v; want an error saying its target is missing", err)
	}
	if _, err := os.Lstat(filepath.Join(dotfiles, "missing.json")); err == nil {
		t.Error("a file was created where a dangling link points")
	}
}

// TestRefusesUntrusted: a file others could have written or planted is
// refused on the rules of every trusted file, and nothing is written:
// group-writable, another user's, a FIFO (without blocking), a link of
// another user's in a shared directory, a directory others can write.
func TestRefusesUntrusted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make files of another user")
	}
	shared := func(t *testing.T) string {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	cases := map[string]func(t *testing.T) string{
		"group-writable": func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "config.json")
			write(t, p, `{}`, 0o660)
			return p
		},
		"another user's": func(t *testing.T) string {
			p := filepath.Join(shared(t), "config.json")
			write(t, p, `{}`, 0o644)
			if err := os.Chown(p, nobody, nobody); err != nil {
				t.Fatal(err)
			}
			return p
		},
		"a FIFO": func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "config.json")
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		},
		"another user's link": func(t *testing.T) string {
			mine := filepath.Join(t.TempDir(), "mine.json")
			write(t, mine, `{}`, 0o600)
			p := filepath.Join(shared(t), "config.json")
			if err := os.Symlink(mine, p); err != nil {
				t.Fatal(err)
			}
			if err := os.Lchown(p, nobody, nobody); err != nil {
				t.Fatal(err)
			}
			return p
		},
		"a directory others can write": func(t *testing.T) string {
			dir := t.TempDir()
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "config.json")
			write(t, p, `{}`, 0o600)
			return p
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			path := setup(t)
			before, _ := os.Lstat(path)
			done := make(chan error, 1)
			go func() { _, err := Load(path); done <- err }()
			select {
			case err := <-done:
				if !errors.Is(err, privatefile.ErrInsecure) || !strings.Contains(err.Error(), filepath.Dir(path)) {
					t.Errorf("Load: %v; want a refusal naming the file", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Load blocked")
			}
			after, _ := os.Lstat(path)
			if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
				t.Error("the file was replaced")
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
				t.Errorf("%d entries beside it, want none", len(entries)-1)
			}
		})
	}
}

// TestLinkChain: a config.json that is a chain of links is followed one
// link at a time, each held to the rules of the first: a link of another
// user's partway along (planted in a shared sticky directory) is refused,
// and nothing is written where it leads; so is a chain too long or a
// loop. A chain of the user's own links, relative ones too, is followed.
func TestLinkChain(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make links of another user")
	}
	home := t.TempDir()
	victim := filepath.Join(home, "victimdir", "other.json")
	if err := os.Mkdir(filepath.Dir(victim), 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, victim, `{"unrelated": true}`, 0o600)
	link := func(t *testing.T, target, at string) {
		t.Helper()
		if err := os.Symlink(target, at); err != nil {
			t.Fatal(err)
		}
	}
	docker := func(t *testing.T) string {
		t.Helper()
		dir, err := os.MkdirTemp(home, "docker")
		if err != nil {
			t.Fatal(err)
		}
		return filepath.Join(dir, "config.json")
	}

	t.Run("another user's link partway", func(t *testing.T) {
		shared := t.TempDir()
		if err := os.Chmod(shared, 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
		evil := filepath.Join(shared, "evil-link")
		link(t, victim, evil)
		if err := os.Lchown(evil, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		path := docker(t)
		link(t, evil, path)
		before, _ := os.Stat(victim)
		_, err := Load(path)
		if !errors.Is(err, privatefile.ErrInsecure) || !strings.Contains(err.Error(), evil) {
			t.Errorf("Load through another user's link: %v; want a refusal naming %s", err, evil)
		}
		after, _ := os.Stat(victim)
		if data, _ := os.ReadFile(victim); string(data) != `{"unrelated": true}` || !os.SameFile(before, after) {
			t.Errorf("the file the foreign link leads to now holds %s", data)
		}
	})
	t.Run("too long a chain", func(t *testing.T) {
		path := docker(t)
		prev := victim
		for i := range 12 {
			next := filepath.Join(filepath.Dir(path), fmt.Sprint("hop", i))
			link(t, prev, next)
			prev = next
		}
		link(t, prev, path)
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "links") {
			t.Errorf("Load through 13 links: %v; want it refused", err)
		}
	})
	t.Run("a loop", func(t *testing.T) {
		path := docker(t)
		other := filepath.Join(filepath.Dir(path), "other")
		link(t, other, path)
		link(t, path, other)
		if _, err := Load(path); err == nil {
			t.Error("Load of a loop of links succeeded")
		}
	})
	t.Run("the user's own chain, relative links too", func(t *testing.T) {
		dotfiles := filepath.Join(home, "dotfiles")
		if err := os.Mkdir(dotfiles, 0o700); err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(dotfiles, "docker.json")
		write(t, target, `{"auths": {}}`, 0o600)
		link(t, "docker.json", filepath.Join(dotfiles, "current.json"))
		path := docker(t)
		link(t, filepath.Join(dotfiles, "current.json"), path)
		setAndSave(t, path, dtHosts, "dt")
		f, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if h, ok := f.Helper("api.d21s.com"); !ok || h != "dt" || f.Target != target {
			t.Errorf("through the chain: helper %q %v, target %s", h, ok, f.Target)
		}
	})
}

// TestRefusesUntrustedLock: a lock file planted where this program's lock
// goes (a link, a FIFO, another user's file) is refused without blocking,
// and nothing is written.
func TestRefusesUntrustedLock(t *testing.T) {
	cases := map[string]func(t *testing.T, lock string){
		"a link": func(t *testing.T, lock string) {
			if err := os.Symlink(filepath.Join(t.TempDir(), "elsewhere"), lock); err != nil {
				t.Fatal(err)
			}
		},
		"a FIFO": func(t *testing.T, lock string) {
			if err := syscall.Mkfifo(lock, 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"another user's": func(t *testing.T, lock string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to make files of another user")
			}
			write(t, lock, "", 0o644)
			if err := os.Chown(lock, nobody, nobody); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, plant := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.json")
			write(t, path, `{}`, 0o600)
			plant(t, lockPath(path))
			done := make(chan error, 1)
			go func() { setAndSaveErr(path, dtHosts, done) }()
			select {
			case err := <-done:
				if !errors.Is(err, privatefile.ErrInsecure) || !strings.Contains(err.Error(), lockPath(path)) {
					t.Errorf("Edit: %v; want a refusal naming the lock", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Edit blocked")
			}
			if data, _ := os.ReadFile(path); string(data) != `{}` {
				t.Errorf("written: %s", data)
			}
		})
	}
}
