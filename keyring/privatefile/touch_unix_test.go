//go:build unix

package privatefile

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// SetModTime on a symlink sets the link's own times: its target, which
// could be anybody's file, is not touched.
func TestSetModTimeDoesNotFollow(t *testing.T) {
	dir := t.TempDir()
	target, link := filepath.Join(dir, "target"), filepath.Join(dir, "link")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(target, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	if err := SetModTime(link, now); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		stat func(string) (os.FileInfo, error)
		want time.Time
	}{
		{target, os.Stat, old},
		{link, os.Lstat, now},
	} {
		fi, err := c.stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(c.want) {
			t.Errorf("%s: modified %v, want %v", c.path, fi.ModTime(), c.want)
		}
	}
}
