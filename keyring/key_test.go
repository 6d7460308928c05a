package keyring

import (
	"strings"
	"testing"
)

// TestKey: the cache key tells accounts apart by every part, is stable, says
// nothing readable about the account, and cannot be made to collide by
// moving a separator from one part to the next.
func TestKey(t *testing.T) {
	base := [3]string{"https://dt.example.test/token", "key-1", "sa@example.test"}
	key := func(p [3]string) string { return Key(p[0], p[1], p[2]) }

	if a, b := key(base), key(base); a != b {
		t.Fatalf("Key is not stable: %q, %q", a, b)
	}
	// The key of an account must not change between versions: every
	// cached token would be fetched again.
	if got, want := key(base), "token-5ba2ab51a43e6a131015b59362eac6c0"; got != want {
		t.Errorf("Key = %q, want %q as before", got, want)
	}
	if got := key(base); checkKey(got) != nil {
		t.Errorf("Key = %q is not a valid store key: %v", got, checkKey(got))
	}

	differ := map[string][3]string{
		"endpoint":                  {"https://dt.example.test/token2", base[1], base[2]},
		"key id":                    {base[0], "key-2", base[2]},
		"email":                     {base[0], base[1], "other@example.test"},
		"parts swapped":             {base[1], base[0], base[2]},
		"empty email":               {base[0], base[1], ""},
		"separator shifted":         {"a:b", "c", "d"},
		"separator shifted back":    {"a", "b:c", "d"},
		"semicolon shifted":         {"a;b", "c", "d"},
		"semicolon shifted back":    {"a", "b;c", "d"},
		"length-prefix lookalike":   {"1:a;", "", "d"},
		"length-prefix lookalike 2": {"", "1:a;", "d"},
		"all empty":                 {"", "", ""},
		"concatenated":              {"ab", "", ""},
		"split":                     {"a", "b", ""},
		"split late":                {"", "a", "b"},
	}
	seen := map[string]string{key(base): "base"}
	for name, p := range differ {
		k := key(p)
		if other, dup := seen[k]; dup {
			t.Errorf("Key(%q) for %q collides with %q: %q", p, name, other, k)
		}
		seen[k] = name
		for _, part := range append(p[:], base[:]...) {
			if len(part) >= 3 && strings.Contains(k, part) {
				t.Errorf("Key(%q) = %q contains the input %q", p, k, part)
			}
		}
	}
	for _, part := range base {
		if k := key(base); strings.Contains(k, part) {
			t.Errorf("Key = %q contains the input %q", k, part)
		}
	}
}
