package bearer_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		name, tok string
		err       string // "" for none; else a part of the message
	}{
		{"empty", "", "is empty"},
		{"one character", "a", ""},
		{"every b64token character", "abcXYZ019-._~+/", ""},
		{"padding after", "abc==", ""},
		{"only padding", "==", "is only padding"},
		{"padding inside", "a=b", "at byte 2"},
		{"padding first", "=a", "at byte 1"},
		{"space", "a b", "at byte 2"},
		{"tab", "a\tb", "at byte 2"},
		{"newline", "ab\n", "at byte 3"},
		{"carriage return", "a\r\nb", "at byte 2"},
		{"NUL", "a\x00", "at byte 2"},
		{"quote", `a"b`, "RFC 6750 b64token"},
		{"comma", "a,b", "RFC 6750 b64token"},
		{"colon", "a:b", "RFC 6750 b64token"},
		{"percent", "a%2F", "RFC 6750 b64token"},
		{"non-ASCII", "ä", "at byte 1"},
		{"an Authorization value", "Bearer abc", "at byte 7"},
		{"at the size limit", strings.Repeat("A", bearer.MaxSize), ""},
		{"at the limit with padding", strings.Repeat("A", bearer.MaxSize-2) + "==", ""},
		{"over the size limit", strings.Repeat("A", bearer.MaxSize+1), "is 32769 bytes long, more than the 32768 allowed"},
		{"padding over the limit", strings.Repeat("=", bearer.MaxSize+1), "bytes long"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := bearer.Check(tt.tok)
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("Check = %v, want nil", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("Check = %v, want an error saying %q", err, tt.err)
			case err != nil && len(tt.tok) > 8 && strings.Contains(err.Error(), tt.tok):
				t.Errorf("Check's error quotes the token: %v", err)
			}
		})
	}
}

// b64token is RFC 6750's grammar, written as the RFC gives it.
var b64token = regexp.MustCompile(`\A[A-Za-z0-9\-._~+/]+=*\z`)

// FuzzCheck holds Check to the grammar: it accepts exactly the b64tokens
// of at most MaxSize bytes.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"", "=", "a=", "a=b", "abc.DEF-123_~+/", "a b", "ä", "Bearer x", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		want := b64token.MatchString(tok) && len(tok) <= bearer.MaxSize
		if err := bearer.Check(tok); (err == nil) != want {
			t.Errorf("Check(%q) = %v, want accepted = %v", tok, err, want)
		}
	})
}

func TestIsBearer(t *testing.T) {
	for typ, want := range map[string]bool{"": true, "Bearer": true, "bearer": true, "BEARER": true, "mac": false, "Bearer ": false, "DPoP": false} {
		if got := bearer.IsBearer(typ); got != want {
			t.Errorf("IsBearer(%q) = %v, want %v", typ, got, want)
		}
	}
}
