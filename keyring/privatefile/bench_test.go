package privatefile

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkEnsureDir is the check every cached call makes of the cache
// directory, an existing one four components deep (as
// /home/user/.cache/dt-credential-helper is): its own lstat and those of
// the directories above it.
func BenchmarkEnsureDir(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "dt-credential-helper")
	if err := os.Mkdir(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := EnsureDir(dir, true); err != nil {
			b.Fatal(err)
		}
	}
}
