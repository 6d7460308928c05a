package boundedbuf

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// TestBuffer: what fits is kept whole and not over; more is cut at the
// bound and over, whether written in pieces or copied with io.Copy (which
// would use an embedded bytes.Buffer's ReadFrom and pass the bound).
func TestBuffer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string
		copy   bool
		want   string
		over   bool
	}{
		{name: "empty", want: ""},
		{name: "under", writes: []string{"ab", "c"}, want: "abc"},
		{name: "exactly", writes: []string{"abcd", "e"}, want: "abcde"},
		{name: "over in one write", writes: []string{"abcdefg"}, want: "abcde", over: true},
		{name: "over in pieces", writes: []string{"abc", "def", "gh"}, want: "abcde", over: true},
		{name: "io.Copy", writes: []string{strings.Repeat("x", 1<<16)}, copy: true, want: "xxxxx", over: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &Buffer{Limit: 5}
			for _, w := range tc.writes {
				var n int
				var err error
				if tc.copy {
					var n64 int64
					n64, err = io.Copy(b, strings.NewReader(w))
					n = int(n64)
				} else {
					n, err = b.Write([]byte(w))
				}
				if n != len(w) || err != nil {
					t.Fatalf("write of %d bytes: %d, %v; want all taken", len(w), n, err)
				}
			}
			if !bytes.Equal(b.Bytes(), []byte(tc.want)) || b.String() != tc.want || b.Over() != tc.over {
				t.Errorf("kept %q, over %v; want %q, over %v", b.Bytes(), b.Over(), tc.want, tc.over)
			}
		})
	}
}
