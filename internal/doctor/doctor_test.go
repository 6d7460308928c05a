package doctor

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReport: the counts and OK follow the outcomes (only a failure fails
// the report; an unknown status is a skip), texts from outside are made one
// printable line, and the two forms say the same.
func TestReport(t *testing.T) {
	r := New(true)
	r.Add(Check{ID: "clock", Subject: "https://id.example/oauth2/token", Status: Pass, Detail: "within 1s"})
	r.Add(Check{ID: "git", Status: Warn, Detail: "not wired\x1b[31m for\nx", Fix: "dt-credential-helper configure git"})
	if !r.OK {
		t.Error("a warning failed the report")
	}
	r.Add(Check{ID: "token", Subject: "prod", Status: Fail, Detail: "refused", Fix: "log in again"})
	r.Add(Check{ID: "vault", Status: "novel", Detail: "--offline"})
	if r.OK || r.Summary != (Summary{Passed: 1, Warnings: 1, Failed: 1, Skipped: 1}) || r.Checks[3].Status != Skip {
		t.Errorf("OK %v, summary %+v, last status %q", r.OK, r.Summary, r.Checks[3].Status)
	}
	if d := r.Checks[1].Detail; strings.ContainsAny(d, "\x1b\n") {
		t.Errorf("a detail keeps control characters: %q", d)
	}

	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	want := "[ OK ] clock https://id.example/oauth2/token: within 1s\n" +
		"[WARN] git: " + r.Checks[1].Detail + "\n" +
		"       fix: dt-credential-helper configure git\n" +
		"[FAIL] token prod: refused\n" +
		"       fix: log in again\n" +
		"[SKIP] vault: --offline\n" +
		"\n4 checks: 1 passed, 1 warning, 1 failed, 1 skipped (--offline: the network was not used).\n"
	if diff := cmp.Diff(want, text.String()); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}

	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	dec := json.NewDecoder(&js)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(*r, back); diff != "" {
		t.Errorf("JSON round trip (-report +decoded):\n%s", diff)
	}
}

// TestWorse: Fail is worse than Warn, Warn than Pass, Pass than Skip, in
// either order of the arguments.
func TestWorse(t *testing.T) {
	order := []Status{Skip, Pass, Warn, Fail}
	for i, a := range order {
		for j, b := range order {
			want := a
			if j > i {
				want = b
			}
			t.Run(string(a)+"-"+string(b), func(t *testing.T) {
				if got := Worse(a, b); got != want {
					t.Errorf("Worse(%s, %s) = %s, want %s", a, b, got, want)
				}
			})
		}
	}
}

// TestPlural: one thing is the word, none or several take an s.
func TestPlural(t *testing.T) {
	for n, want := range map[int]string{0: "profiles", 1: "profile", 2: "profiles"} {
		if got := Plural(n, "profile"); got != want {
			t.Errorf("Plural(%d) = %q, want %q", n, got, want)
		}
	}
}
