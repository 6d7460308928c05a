package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
)

// BenchmarkCachedToken runs a cached `token` call in-process with the file
// store: the program's own work on the hot path (flags, credentials, cache
// read, decode, print), without process start-up, which scripts/bench.sh
// measures. The emulator stands in for DT's identity service.
func BenchmarkCachedToken(b *testing.B) {
	srv := authtest.NewServer(testAccount)
	defer srv.Close()
	dir := b.TempDir()
	vars := map[string]string{
		"HOME":                      dir,
		"XDG_CONFIG_HOME":           filepath.Join(dir, "config"),
		"DT_CACHE_DIR":              filepath.Join(dir, "cache"),
		"DT_TOKEN_CACHE":            "file",
		"DT_SERVICE_ACCOUNT_KEY_ID": testAccount.KeyID,
		"DT_SERVICE_ACCOUNT_EMAIL":  testAccount.Email,
		"DT_SERVICE_ACCOUNT_SECRET": testAccount.Secret,
		"DT_TOKEN_ENDPOINT":         srv.TokenURL(),
	}
	call := func(stdout io.Writer) int {
		return run(context.Background(), env{
			args:   []string{prog, "token"},
			stdin:  strings.NewReader(""),
			stdout: stdout,
			stderr: io.Discard,
			getenv: func(k string) string { return vars[k] },
		})
	}
	var first bytes.Buffer
	if code := call(&first); code != 0 || !strings.Contains(first.String(), "access_token") {
		b.Fatalf("first call: exit %d", code)
	}
	for b.Loop() {
		if call(io.Discard) != 0 {
			b.Fatal("cached call failed")
		}
	}
	b.StopTimer()
	if n := srv.Requests(); n != 1 {
		b.Fatalf("%d token requests, want 1", n)
	}
}
