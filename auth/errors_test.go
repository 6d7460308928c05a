package auth

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	const secret = "s3cret-Value-9"
	const token = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-xyz"
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJzYUB4In0.c2lnbmF0dXJlLXZhbHVl"
	tests := []struct {
		name, body string
		keep       []string // must still be shown
	}{
		{"token member", `{"access_token":"` + token + `","token_type":"mac"}`, []string{"mac"}},
		{"nested token", `{"data":{"access_token":"` + token + `"}}`, []string{`{"data":{"access_token":"[redacted]"}}`}},
		{"cut-off JSON", `{"error":"x","access_token":"` + token[:20], []string{`"error":"x"`}},
		{"form body", `error=bad&assertion=` + jwt + `&x=1`, []string{"error=bad"}},
		{"JWT in HTML", `<html><p>` + jwt + `</p></html>`, []string{"<html>"}},
		{"opaque token in text", `token ` + token + ` was rejected`, []string{"was rejected"}},
		{"secret in error code", `{"error":"` + secret + `"}`, []string{`{"error":"[redacted]"}`}},
		{"secret in error_uri", `{"error":"x","error_uri":"https://x/` + secret + `"}`, []string{"https://x/"}},
		{"control characters", "bad\x00\x1b[31mred\nline", []string{"bad", "red line"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sanitize([]byte(tt.body), secret)
			for _, leaked := range []string{secret, token, token[:20], jwt} {
				if strings.Contains(got, leaked) {
					t.Errorf("sanitize(%q) = %q shows %q", tt.body, got, leaked)
				}
			}
			for _, k := range tt.keep {
				if !strings.Contains(got, k) {
					t.Errorf("sanitize(%q) = %q lost %q", tt.body, got, k)
				}
			}
			if strings.ContainsAny(got, "\x00\x1b\n") {
				t.Errorf("sanitize(%q) = %q has control characters", tt.body, got)
			}
		})
	}
	// Hex ids and UUIDs help support and are kept.
	const id = "0123456789abcdef0123456789abcdef01"
	if got := sanitize([]byte(`request ` + id + ` failed`)); !strings.Contains(got, id) {
		t.Errorf("hex id removed: %q", got)
	}
	if got := sanitize([]byte(strings.Repeat("é", 300))); len(got) > maxExcerpt+len("…") || !strings.HasSuffix(got, "…") || !utf8.ValidString(got) {
		t.Errorf("long excerpt not cut at a rune boundary: %d bytes", len(got))
	}
}

func TestOneLine(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain text is kept", "token request failed: HTTP 400", "token request failed: HTTP 400"},
		{"OSC 52 clipboard write", "valid for dt\x1b]52;c;cHduZWQ=\x07.example", "valid for dt ]52;c;cHduZWQ= .example"},
		{"title and cursor up", "\x1b]0;owned\x07\x1b[1Aline", "]0;owned [1Aline"},
		{"C1 CSI and DEL", "a\u009b2Jb\x7fc", "a 2Jb c"},
		{"bidi override and isolate", "x\u202eevil\u2066y", "x evil y"},
		{"bytes that are not UTF-8", "a\xff\xfeb", "a b"},
		{"newlines, tabs and runs of spaces", "  one\r\ntwo\t\tthree  ", "one two three"},
		{"non-ASCII text is kept", "échec: 証明書", "échec: 証明書"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OneLine(tt.in); got != tt.want {
				t.Errorf("OneLine(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
