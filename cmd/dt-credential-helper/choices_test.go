package main

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dt-credential-helper/dt-credential-helper/internal/format"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// TestChoicesListed: the output formats (format.Choices) and the cache
// modes (keyring.ModeChoices) are one list each. token's help, built from
// them, shows each list; an unknown value's error names every choice; and
// README lists them (the -o table, the --cache line), so a format or mode
// added without its README line fails here.
func TestChoicesListed(t *testing.T) {
	t.Parallel()
	env := baseEnv(t, "https://identity.invalid/oauth2/token")
	readme := readmeLines(t)
	tests := []struct {
		name, flag, choices string
		names               []string
		errVerb             string // the unknown value's error: "<verb> one of a, b, c"
		inReadme            []string
	}{
		{"formats", "-o", format.Choices, format.Names(), "use", readmeTable(t, readme, "| `-o` | prints |")},
		{"cache modes", "--cache", keyring.ModeChoices, keyring.ModeNames(), "want", readmeSynopsis(t, readme, "--cache")},
	}
	help := runInProcess(t, env, "", "token", "--help")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.names) < 2 || strings.Join(tt.names, "|") != tt.choices {
				t.Fatalf("names %q are not the list %q", tt.names, tt.choices)
			}
			if help.code != 0 || strings.Count(help.stdout, tt.choices) == 0 {
				t.Errorf("token --help does not show %s: exit %d\n%s", tt.choices, help.code, help.stdout)
			}
			bad := runInProcess(t, env, "", "token", tt.flag, "bogus")
			if bad.code != exitUsage || !strings.HasSuffix(bad.stderr, `"bogus": `+tt.errVerb+" one of "+strings.Join(tt.names, ", ")+"\n") {
				t.Errorf("token %s bogus: exit %d, stderr %q; want a usage error naming every choice", tt.flag, bad.code, bad.stderr)
			}
			if diff := cmp.Diff(tt.names, tt.inReadme); diff != "" {
				t.Errorf("README lists other %s (-list +README):\n%s", tt.name, diff)
			}
		})
	}
	// The token command's usage line names the formats.
	if !strings.HasPrefix(help.stdout, "Usage: "+prog+" token [-o "+format.Choices+"] [FLAGS]\n") {
		t.Errorf("token --help usage line:\n%s", help.stdout)
	}
}

// readmeLines is README.md, the one at the top of the repository.
func readmeLines(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(b), "\n")
}

// readmeTable returns the first cell, without its backquotes, of each row
// of the table whose header line is header.
func readmeTable(t *testing.T, lines []string, header string) []string {
	t.Helper()
	for i, l := range lines {
		if l != header {
			continue
		}
		var cells []string
		for _, row := range lines[i+2:] { // past the |---| line
			cell, ok := strings.CutPrefix(row, "| `")
			if !ok {
				break
			}
			name, _, _ := strings.Cut(cell, "`")
			cells = append(cells, name)
		}
		return cells
	}
	t.Fatalf("README has no table headed %s", header)
	return nil
}

// readmeSynopsis returns the choices of the line that opens with
// "`flag a|b|c`".
func readmeSynopsis(t *testing.T, lines []string, flag string) []string {
	t.Helper()
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(l, "`"+flag+" "); ok {
			choices, _, _ := strings.Cut(rest, "`")
			return strings.Split(choices, "|")
		}
	}
	t.Fatalf("README has no line opening with `%s", flag)
	return nil
}
