// Package manpage writes a manual page in the man macros of roff (man(7)),
// escaping what it is given so that groff shows it as written: a program
// builds its page from the texts and flag sets its --help prints, and the
// page cannot differ from the help.
package manpage

import (
	"fmt"
	"strings"
	"unicode"
)

// Page is a manual page being written.
type Page struct{ b strings.Builder }

// New starts the page of the program name in manual section (1 for user
// commands), headed with manual ("User Commands"). The page carries no date
// or version, so that it is the same for every build of the same texts.
func New(name, section, manual string) *Page {
	p := &Page{}
	p.printf(".TH %s %s \"\" %s %s\n", quote(strings.ToUpper(name)), section, quote(name), quote(manual))
	// No hyphenation, and a ragged right margin: names such as
	// DT_SERVICE_ACCOUNT_EMAIL or --refresh-buffer are typed as shown, so
	// they are never broken, nor spaced out.
	p.b.WriteString(".nh\n.ad l\n")
	return p
}

// Section starts a section (NAME, SYNOPSIS, ...).
func (p *Page) Section(title string) { p.printf(".SH %s\n", quote(strings.ToUpper(title))) }

// Subsection starts a subsection.
func (p *Page) Subsection(title string) { p.printf(".SS %s\n", quote(title)) }

// Text writes text's paragraphs, separated by blank lines. A paragraph's
// lines are filled, as text wrapped for a terminal should be, unless one of
// them is indented: such a paragraph (a table, a command line) is kept
// line for line.
func (p *Page) Text(text string) {
	for _, para := range paragraphs(text) {
		p.paragraph(".PP", para)
	}
}

// Pre writes text line for line, indented.
func (p *Page) Pre(text string) {
	p.b.WriteString(".PP\n")
	p.pre(text)
}

// Item writes a tagged paragraph: term in bold, then arg (if any) in
// italics, and text indented under them, its paragraphs as Text writes
// them.
func (p *Page) Item(term, arg, text string) {
	p.b.WriteString(".TP\n")
	tag := `\fB` + escape(term) + `\fR`
	if arg != "" {
		tag += ` \fI` + escape(arg) + `\fR`
	}
	p.b.WriteString(tag + "\n")
	for i, para := range paragraphs(text) {
		macro := ".IP" // a later paragraph keeps the item's indent
		if i == 0 {
			macro = ""
		}
		p.paragraph(macro, para)
	}
}

// String returns the page.
func (p *Page) String() string { return p.b.String() }

func (p *Page) printf(format string, a ...any) { fmt.Fprintf(&p.b, format, a...) }

// paragraph writes para after macro (none if ""): filled, or line for line
// when indented.
func (p *Page) paragraph(macro, para string) {
	if macro != "" {
		p.b.WriteString(macro + "\n")
	}
	if indented(para) {
		p.pre(para)
		return
	}
	for line := range strings.SplitSeq(para, "\n") {
		p.b.WriteString(escapeLine(strings.TrimSpace(line)) + "\n")
	}
}

// pre writes text without filling, indented by the page's indent, and its
// own indentation kept.
func (p *Page) pre(text string) {
	p.b.WriteString(".RS\n.nf\n")
	for line := range strings.SplitSeq(dedent(text), "\n") {
		p.b.WriteString(escapeLine(line) + "\n")
	}
	p.b.WriteString(".fi\n.RE\n")
}

// paragraphs splits text at blank lines.
func paragraphs(text string) []string {
	var out []string
	for para := range strings.SplitSeq(strings.TrimSpace(text), "\n\n") {
		if para = strings.Trim(para, "\n"); strings.TrimSpace(para) != "" {
			out = append(out, para)
		}
	}
	return out
}

// indented reports whether a line of para begins with white space.
func indented(para string) bool {
	for line := range strings.SplitSeq(para, "\n") {
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			return true
		}
	}
	return false
}

// dedent removes the indentation every line of text shares.
func dedent(text string) string {
	lines := strings.Split(text, "\n")
	common := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " "))
		if common < 0 || n < common {
			common = n
		}
	}
	for i, l := range lines {
		if len(l) >= common && common > 0 {
			lines[i] = l[common:]
		}
	}
	return strings.Join(lines, "\n")
}

// escapeLine is escape(line), made safe at the start of a line, where a dot
// or an apostrophe would begin a request.
func escapeLine(line string) string {
	s := escape(line)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// escape makes s text roff shows as written: a backslash is roff's escape
// character, a hyphen-minus would be a hyphen (not what a flag is typed
// with), and a character beyond ASCII is named, so that the page is ASCII
// whatever groff's input encoding.
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r == '\t':
			b.WriteString(" ")
		case r > unicode.MaxASCII:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		case r < ' ' || r == 0x7f:
			// A control character is no text.
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// quote is s as one argument of a request.
func quote(s string) string {
	return `"` + strings.ReplaceAll(escape(s), `"`, `\(dq`) + `"`
}
