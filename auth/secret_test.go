package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestCleanSecret(t *testing.T) {
	const s = "dt-secret-value"
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{"as is", s, s, ""},
		{"a space inside", "dt secret", "dt secret", ""},
		{"one newline", s + "\n", s, ""},
		{"one CRLF", s + "\r\n", s, ""},
		{"two newlines", s + "\n\n", "", "whitespace"},
		{"a lone CR", s + "\r", "", "whitespace"},
		{"leading space", " " + s, "", "whitespace"},
		{"trailing space before the newline", s + " \n", "", "whitespace"},
		{"trailing no-break space", s + "\u00a0", "", "whitespace"},
		{"a tab", "dt\tsecret", "", "control character (U+0009 at byte 2)"},
		{"a NUL", "dt\x00secret", "", "control character (U+0000 at byte 2)"},
		{"a newline inside", "dt\nsecret", "", "control character"},
		{"an escape", "dt\x1b]52;secret", "", "control character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CleanSecret(tc.in)
			if tc.err == "" {
				if err != nil || got != tc.want {
					t.Fatalf("CleanSecret(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("CleanSecret(%q): %v, want a *ConfigError saying %q", tc.in, err, tc.err)
			}
			if strings.Contains(err.Error(), "secret\x00") || strings.Contains(err.Error(), "dt") {
				t.Errorf("the error quotes the secret: %v", err)
			}
		})
	}
	for _, in := range []string{"", "\n", "\r\n", " \n", "\t"} {
		if _, err := CleanSecret(in); !errors.Is(err, ErrNoSecret) {
			t.Errorf("CleanSecret(%q): %v, want ErrNoSecret", in, err)
		}
	}
}
