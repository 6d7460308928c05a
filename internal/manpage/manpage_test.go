package manpage

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"--profile", `\-\-profile`},
		{`C:\dir`, `C:\edir`},
		{"a…b", `a\[u2026]b`},
		{"tab\there", "tab here"},
		{"bell\a!", "bell!"},
		{`"quoted"`, `"quoted"`},
	}
	for _, tt := range tests {
		if got := escape(tt.in); got != tt.want {
			t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, in := range []string{".SH injected", "'br injected"} {
		if got := escapeLine(in); !strings.HasPrefix(got, `\&`) {
			t.Errorf("escapeLine(%q) = %q: a request at the start of a line", in, got)
		}
	}
	if got := quote(`say "hi"`); got != `"say \(dqhi\(dq"` {
		t.Errorf("quote: %q", got)
	}
}

// page is a page of text that would be roff requests, escapes or fonts if
// written as it is.
func page() string {
	p := New("my-prog", "1", "User Commands")
	p.Section("Name")
	p.Text("my-prog - does things")
	p.Section("Description")
	p.Text(".SH not a section\n'br not a break\nC:\\fB\\dir -- ends here…\n\n  kept   as\n    written")
	p.Item("--flag", "value", "first paragraph\n\nsecond paragraph\n\n  pre  formatted")
	p.Pre("one\n  two")
	return p.String()
}

// TestPage: what New, Section, Text, Item and Pre write.
func TestPage(t *testing.T) {
	want := `.TH "MY\-PROG" 1 "" "my\-prog" "User Commands"
.nh
.ad l
.SH "NAME"
.PP
my\-prog \- does things
.SH "DESCRIPTION"
.PP
\&.SH not a section
\&'br not a break
C:\efB\edir \-\- ends here\[u2026]
.PP
.RS
.nf
kept   as
  written
.fi
.RE
.TP
\fB\-\-flag\fR \fIvalue\fR
first paragraph
.IP
second paragraph
.IP
.RS
.nf
pre  formatted
.fi
.RE
.PP
.RS
.nf
one
  two
.fi
.RE
`
	if got := page(); got != want {
		t.Errorf("page:\n%s\nwant:\n%s", got, want)
	}
}

// TestGroffShowsTextAsWritten: the real groff renders the page with no
// warning, and shows the text as it was given: no request, escape or font
// change taken from it.
func TestGroffShowsTextAsWritten(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		testutil.SkipOutsideCI(t, "groff is not installed (Debian: apt-get install groff)")
	}
	cmd := exec.Command(groff, "-ww", "-man", "-Tutf8", "-P-cbou")
	cmd.Stdin = strings.NewReader(page())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("groff: %v\n%s", err, stderr.String())
	}
	text := string(out)
	for _, want := range []string{".SH not a section", "'br not a break", `C:\fB\dir -- ends here…`, "kept   as\n", "  written", "--flag value"} {
		if !strings.Contains(text, want) {
			t.Errorf("groff's text lacks %q:\n%s", want, text)
		}
	}
}
