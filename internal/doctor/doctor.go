// Package doctor is the doctor command's report: a checklist, each check
// passed, warned about, failed or skipped, with what was found and, where
// something is wrong, the fix in words; and its two forms, text for a
// person and JSON for a program. The checks are the command's
// (cmd/dt-credential-helper/doctor*.go), which wires every part of the
// program; this package knows none of them.
//
// Every text a check carries is written as one printable line
// (auth.OneLine): checks quote servers, files and other programs.
package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
)

// Status is a check's outcome.
type Status string

// The outcomes. Only Fail makes the report fail: a warning is something
// that works but may not be what was meant, a skip a check that does not
// apply here (or needs the network under --offline).
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Check is one line of the checklist.
type Check struct {
	// ID names what is checked, one of a fixed list (docs/doctor.md).
	ID string `json:"id"`
	// Subject is which one, when there are several: a profile, an
	// endpoint, a tool's user; empty otherwise.
	Subject string `json:"subject,omitempty"`
	Status  Status `json:"status"`
	// Detail is what was found.
	Detail string `json:"detail"`
	// Fix is what to do about a failure or a warning, in words.
	Fix string `json:"fix,omitempty"`
}

// Summary counts the checks by outcome.
type Summary struct {
	Passed   int `json:"passed"`
	Warnings int `json:"warnings"`
	Failed   int `json:"failed"`
	Skipped  int `json:"skipped"`
}

// Report is the checklist, in the order the checks ran.
type Report struct {
	// OK is true when no check failed.
	OK bool `json:"ok"`
	// Offline says the network checks were skipped (--offline).
	Offline bool    `json:"offline"`
	Summary Summary `json:"summary"`
	Checks  []Check `json:"checks"`
}

// New returns an empty report.
func New(offline bool) *Report { return &Report{OK: true, Offline: offline, Checks: []Check{}} }

// Add appends c, its texts made one printable line each, and counts it.
func (r *Report) Add(c Check) {
	c.Subject, c.Detail, c.Fix = auth.OneLine(c.Subject), auth.OneLine(c.Detail), auth.OneLine(c.Fix)
	switch c.Status {
	case Pass:
		r.Summary.Passed++
	case Warn:
		r.Summary.Warnings++
	case Fail:
		r.Summary.Failed++
		r.OK = false
	default:
		c.Status = Skip
		r.Summary.Skipped++
	}
	r.Checks = append(r.Checks, c)
}

// mark is the text form's mark of an outcome, as git-credential-manager's
// diagnose prints them; a switch, not a map built at every program start.
func (s Status) mark() string {
	switch s {
	case Pass:
		return "[ OK ]"
	case Warn:
		return "[WARN]"
	case Fail:
		return "[FAIL]"
	case Skip:
		return "[SKIP]"
	}
	return ""
}

// rank orders the outcomes from the best to the worst.
func (s Status) rank() int {
	switch s {
	case Pass:
		return 1
	case Warn:
		return 2
	case Fail:
		return 3
	}
	return 0 // Skip
}

// Worse is the worse of two outcomes: Fail, then Warn, then Pass, then Skip.
func Worse(a, b Status) Status {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// WriteText writes the checklist for a person: one line per check, its
// fix indented below it, and a summary line.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, c := range r.Checks {
		name := c.ID
		if c.Subject != "" {
			name += " " + c.Subject
		}
		fmt.Fprintf(&b, "%s %s: %s\n", c.Status.mark(), name, c.Detail)
		if c.Fix != "" {
			fmt.Fprintf(&b, "       fix: %s\n", c.Fix)
		}
	}
	s := r.Summary
	fmt.Fprintf(&b, "\n%d checks: %d passed, %d %s, %d failed, %d skipped", len(r.Checks), s.Passed, s.Warnings, Plural(s.Warnings, "warning"), s.Failed, s.Skipped)
	if r.Offline {
		b.WriteString(" (--offline: the network was not used)")
	}
	b.WriteString(".\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// Plural is word for n things: word itself for one, word+"s" otherwise.
func Plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// WriteJSON writes the report as one JSON object (docs/doctor.md).
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
