package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

// manFile is the man page as committed, the output of `__man` on Linux.
const manFile = "../../docs/dt-credential-helper.1"

// TestManPageCurrent: docs/dt-credential-helper.1 is what the program
// prints now, so the committed page is never older than the help it is
// written from. exec's text differs on Windows, and the page is Linux's.
func TestManPageCurrent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the committed man page is Linux's")
	}
	t.Parallel()
	want, err := os.ReadFile(manFile)
	if err != nil {
		t.Fatal(err)
	}
	r := runInProcess(t, nil, "", manCommand)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("%s: exit %d, stderr %q", manCommand, r.code, r.stderr)
	}
	if diff := cmp.Diff(string(want), r.stdout); diff != "" {
		t.Errorf("docs/dt-credential-helper.1 is not current: run go generate ./cmd/dt-credential-helper (-committed +now):\n%s", diff)
	}
}

// TestManPageRenders: groff formats the page with no warning (-ww: all of
// them), man-db's lexgrog finds its NAME line as whatis and apropos read
// it, and `man -l` shows every command with every flag its --help lists,
// every environment variable, file and exit status, as plain text.
func TestManPageRenders(t *testing.T) {
	t.Parallel()
	groff, man := lookTool(t, "groff"), lookTool(t, "man")
	page := filepath.Join(t.TempDir(), "dt-credential-helper.1")
	r := runInProcess(t, nil, "", manCommand)
	if err := os.WriteFile(page, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dev := range []string{"-Tutf8", "-Tps"} {
		if out := runManTool(t, nil, groff, "-ww", "-man", "-z", dev, page); out.stderr != "" {
			t.Errorf("groff %s warns:\n%s", dev, out.stderr)
		}
	}
	if lexgrog, err := exec.LookPath("lexgrog"); err == nil {
		if out := runManTool(t, nil, lexgrog, page); !strings.Contains(out.stdout, `"dt-credential-helper - Disruptive Technologies access tokens`) {
			t.Errorf("lexgrog reads no NAME line: %s%s", out.stdout, out.stderr)
		}
	}
	out := runManTool(t, []string{"MANWIDTH=100", "MANPAGER=cat", "PAGER=cat", "LANG=C.UTF-8"}, man, "-l", page)
	text := out.stdout
	if out.stderr != "" || strings.ContainsAny(text, "\b\x1b") {
		t.Errorf("man -l: stderr %q; formatting left in the text: %v", out.stderr, strings.ContainsAny(text, "\b\x1b"))
	}
	sections := manSections(text)
	env := baseEnv(t, "http://127.0.0.1:1/oauth2/token")
	for _, c := range commands() {
		body, ok := sections[c.name]
		if !ok {
			t.Errorf("man -l shows no subsection %q", c.name)
			continue
		}
		for _, f := range helpFlags(runInProcess(t, env, "", c.name, "--help").stdout) {
			if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(flagSpelling(f)) + `( |$)`).MatchString(body) {
				t.Errorf("man -l, %s: no entry for %s, which %s --help lists", c.name, flagSpelling(f), c.name)
			}
		}
	}
	words := strings.Join(strings.Fields(text), " ")
	for _, it := range slices.Concat(environment(), files(), exitStatuses()) {
		if !strings.Contains(words, " "+it.term+" ") {
			t.Errorf("man -l shows no entry %q", it.term)
		}
	}
}

// manSections splits man's text at its subsection headings (three spaces
// and a word) and returns each body by its heading.
func manSections(text string) map[string]string {
	out := map[string]string{}
	heading := regexp.MustCompile(`(?m)^   (\S+)$`)
	idx := heading.FindAllStringSubmatchIndex(text, -1)
	for i, m := range idx {
		end := len(text)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		out[text[m[2]:m[3]]] = text[m[1]:end]
	}
	return out
}

// TestReadmeEnvironment: the man page's ENVIRONMENT and FILES are the one
// list of what the program reads; README names the same DT_* and VAULT_*
// variables (besides the tests' own DT_TEST_*), and every file the page
// lists, as written there.
func TestReadmeEnvironment(t *testing.T) {
	t.Parallel()
	readme := strings.Join(readmeLines(t), "\n")
	name := regexp.MustCompile(`\b(?:DT|VAULT)_[A-Z0-9_]*[A-Z0-9]\b`)
	var listed []string
	for _, it := range environment() {
		listed = append(listed, name.FindAllString(it.term, -1)...)
	}
	var inReadme []string
	for _, n := range name.FindAllString(readme, -1) {
		if !strings.HasPrefix(n, "DT_TEST_") {
			inReadme = append(inReadme, n)
		}
	}
	slices.Sort(listed)
	slices.Sort(inReadme)
	if diff := cmp.Diff(slices.Compact(listed), slices.Compact(inReadme)); diff != "" {
		t.Errorf("README and the man page's ENVIRONMENT name other variables (-man +README):\n%s", diff)
	}
	for _, f := range files() {
		if !strings.Contains(readme, "`"+f.term+"`") {
			t.Errorf("README does not name %s, which the man page's FILES lists", f.term)
		}
	}
}

// lookTool returns the path of name, or skips (fails in CI) without it.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		testutil.SkipOutsideCI(t, name+" is not installed: install it (Debian: groff, man-db) to run this test")
	}
	return path
}

// runManTool runs path with args, in the test's environment plus env.
func runManTool(t *testing.T, env []string, path string, args ...string) result {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &stdout, &stderr, strings.NewReader("")
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s: %v", path, err)
	}
	code := 0
	if err != nil {
		code = cmd.ProcessState.ExitCode()
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}
