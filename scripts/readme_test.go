package scripts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
)

// These tests follow README.md literally where a snippet can be run or
// parsed here.

// fence is a fenced code block of a Markdown file.
type fence struct {
	lang, body string
	line       int    // of the opening fence
	heading    string // the last heading above it
}

func fences(t *testing.T, file string) []fence {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []fence
	var cur *fence
	heading := ""
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &fence{lang: strings.TrimPrefix(line, "```"), line: i + 1, heading: heading}
		case cur != nil && line == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.body += line + "\n"
		case strings.HasPrefix(line, "#"):
			heading = strings.TrimSpace(strings.TrimLeft(line, "#"))
		}
	}
	if cur != nil {
		t.Fatalf("%s: the block at line %d is not closed", file, cur.line)
	}
	return out
}

// placeholder is what the README writes for a value of the reader's, such
// as <key id>: a redirection to the shell, so it is replaced before parsing.
var placeholder = regexp.MustCompile(`<[a-z][a-z ]*>`)

// TestReadmeShellBlocks: every sh block of the README and docs/*.md is
// POSIX shell, as its fence says (dash -n): no bash-only syntax such as
// <<<, which a reader's /bin/sh rejects.
func TestReadmeShellBlocks(t *testing.T) {
	dash, err := exec.LookPath("dash")
	if err != nil {
		t.Skip("no dash, a strictly POSIX shell, to parse with")
	}
	docs, _ := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	n := 0
	for _, file := range append([]string{filepath.Join("..", "README.md")}, docs...) {
		for _, f := range fences(t, file) {
			if f.lang != "sh" {
				continue
			}
			n++
			cmd := exec.Command(dash, "-n")
			cmd.Stdin = strings.NewReader(placeholder.ReplaceAllString(f.body, "PLACEHOLDER"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s:%d (%s): not POSIX shell: %v\n%s\n%s", file, f.line, f.heading, err, out, f.body)
			}
		}
	}
	if n < 10 {
		t.Fatalf("found only %d sh blocks: is the parsing broken?", n)
	}
}

// TestReadmeCredentialsFile: the credentials file the README shows is one
// the helper reads.
func TestReadmeCredentialsFile(t *testing.T) {
	for _, f := range fences(t, filepath.Join("..", "README.md")) {
		if f.lang != "json" || !strings.Contains(f.body, `"serviceAccount"`) {
			continue
		}
		c, err := auth.ParseCredentialsFile([]byte(f.body), "README.md")
		if err != nil {
			t.Fatalf("README.md:%d: %v", f.line, err)
		}
		if c.KeyID != "<key id>" || c.Email != "<email>" || c.Secret != "<secret>" || c.TokenEndpoint != auth.DefaultTokenEndpoint {
			t.Errorf("README.md:%d reads as %+v", f.line, c)
		}
		return
	}
	t.Fatal("README.md shows no credentials file")
}

// TestReadmeJWTRolesBindSubject: every JWT role the README or docs/*.md
// writes binds the subject (or other claims): without it, any JWT the
// issuer signs for the audience gets the account's DT tokens.
func TestReadmeJWTRolesBindSubject(t *testing.T) {
	docs, _ := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	n := 0
	for _, file := range append([]string{filepath.Join("..", "README.md")}, docs...) {
		for _, f := range fences(t, file) {
			// A command continues over lines ending in a backslash.
			for _, command := range strings.Split(strings.ReplaceAll(f.body, "\\\n", " "), "\n") {
				if !strings.Contains(command, "write auth/jwt/role/") {
					continue
				}
				n++
				if !strings.Contains(command, "bound_subject=") && !strings.Contains(command, "bound_claims=") {
					t.Errorf("%s:%d: a JWT role with neither bound_subject nor bound_claims: %s", file, f.line, command)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no JWT role found in README.md or docs/: is the parsing broken?")
	}
}
