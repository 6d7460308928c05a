package completion

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tree is a small program: a default command with a flag of listed values,
// one of file names, one of free text and a boolean; a command whose
// operand is an action; one whose flags may follow its operand; one that
// runs a command after "--".
func tree() Tree {
	shared := []Flag{
		{Name: "cache", Usage: "token cache", Values: func() []string { return []string{"auto", "file", "kernel"} }},
		{Name: "credentials-file", Usage: "a file", Files: true},
		{Name: "key-id", Usage: "free text"},
		{Name: "o", Usage: "output format\nsecond line", Values: func() []string { return []string{"json", "token"} }},
		{Name: "verbose", Usage: "log", Bool: true},
	}
	return Tree{
		Default: "token",
		Commands: []Command{
			{Name: "token", Summary: "print a token", Flags: shared},
			{Name: "git", Summary: "git helper", Flags: shared, Operands: []string{"get", "store", "erase"}},
			{Name: "configure", Summary: "wire tools", Flags: shared, Operands: []string{"git", "docker"}, FlagsAfterOperand: true},
			{Name: "exec", Summary: "run a command", Flags: shared, RunsCommand: true},
		},
	}
}

func values(r Result) []string {
	var out []string
	for _, c := range r.Candidates {
		out = append(out, c.Value)
	}
	return out
}

func TestComplete(t *testing.T) {
	tests := []struct {
		name  string
		words []string
		want  []string
		dir   Directive
	}{
		{"commands", []string{""}, []string{"token", "git", "configure", "exec"}, Nothing},
		{"no words", nil, []string{"token", "git", "configure", "exec"}, Nothing},
		{"command prefix", []string{"co"}, []string{"configure"}, Nothing},
		{"unknown command", []string{"nope", ""}, nil, Nothing},
		{"default command's flags", []string{"--c"}, []string{"--cache", "--credentials-file"}, Nothing},
		{"one dash: every flag, a letter's with one", []string{"token", "-"}, []string{"--cache", "--credentials-file", "--key-id", "-o", "--verbose"}, Nothing},
		{"double dash: the long ones", []string{"token", "--"}, []string{"--cache", "--credentials-file", "--key-id", "--verbose"}, Nothing},
		{"single-dash spelling kept", []string{"token", "-ca"}, []string{"-cache"}, Nothing},
		{"value", []string{"token", "--cache", ""}, []string{"auto", "file", "kernel"}, Nothing},
		{"value prefix", []string{"token", "--cache", "k"}, []string{"kernel"}, Nothing},
		{"value of a one-letter flag", []string{"token", "-o", "j"}, []string{"json"}, Nothing},
		{"value after =", []string{"token", "--cache=f"}, []string{"--cache=file"}, Nothing},
		{"single-dash value after =", []string{"token", "-cache=f"}, []string{"-cache=file"}, Nothing},
		{"value of the default command", []string{"--cache", ""}, []string{"auto", "file", "kernel"}, Nothing},
		{"file name", []string{"token", "--credentials-file", "x"}, nil, Files},
		{"file name after =", []string{"token", "--credentials-file=x"}, nil, Files},
		{"free text", []string{"token", "--key-id", ""}, nil, Nothing},
		{"free text after =", []string{"token", "--key-id="}, nil, Nothing},
		{"a boolean takes no value", []string{"token", "--verbose", "--k"}, []string{"--key-id"}, Nothing},
		{"a value is not a flag", []string{"token", "--key-id", "--cache", "--v"}, []string{"--verbose"}, Nothing},
		{"a value given with = is not awaited", []string{"token", "--cache=file", ""}, nil, Nothing},
		{"unknown flag", []string{"token", "--nope", ""}, nil, Nothing},
		{"operand", []string{"git", ""}, []string{"get", "store", "erase"}, Nothing},
		{"operand after flags", []string{"git", "--cache", "file", "--verbose", "e"}, []string{"erase"}, Nothing},
		{"one operand", []string{"git", "get", ""}, nil, Nothing},
		{"flags end at the operand", []string{"git", "get", "--"}, nil, Nothing},
		{"flags after the operand", []string{"configure", "git", "--v"}, []string{"--verbose"}, Nothing},
		{"a flag's value after the operand", []string{"configure", "git", "--cache", "a"}, []string{"auto"}, Nothing},
		{"the command to run", []string{"exec", "--verbose", "--", "ec"}, nil, CommandNames},
		{"its arguments", []string{"exec", "--", "echo", "x"}, nil, Files},
		{"no command after -- elsewhere", []string{"token", "--", ""}, nil, Nothing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tree().Complete(tt.words)
			if diff := cmp.Diff(tt.want, values(r)); diff != "" {
				t.Errorf("Complete(%q) (-want +got):\n%s", tt.words, diff)
			}
			if r.Directive != tt.dir {
				t.Errorf("Complete(%q): directive %q, want %q", tt.words, r.Directive, tt.dir)
			}
		})
	}
}

// TestWrite: one candidate a line, a description after a tab on one line,
// the directive last.
func TestWrite(t *testing.T) {
	var b bytes.Buffer
	r := tree().Complete([]string{"token", "-o"})
	r.Candidates = append(r.Candidates, Candidate{Value: "plain"})
	r.Directive = Files
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	if want := "-o\toutput format\nplain\n:files\n"; b.String() != want {
		t.Errorf("Write: %q, want %q", b.String(), want)
	}
}

// TestScript: each shell's script names the program and the function it
// registers, and asks the program through Hidden; another shell is an
// error naming the ones there are.
func TestScript(t *testing.T) {
	for _, shell := range Shells() {
		s, err := Script(shell, "my-prog")
		if err != nil {
			t.Fatalf("%s: %v", shell, err)
		}
		for _, placeholder := range []string{"PROG", "FUNC", "HIDDEN"} {
			if strings.Contains(s, placeholder) {
				t.Errorf("%s: %s left in the script", shell, placeholder)
			}
		}
		if !strings.Contains(s, " "+Hidden+" ") || !strings.Contains(s, "my-prog completion "+shell) {
			t.Errorf("%s script:\n%s", shell, s)
		}
	}
	if _, err := Script("tcsh", "my-prog"); err == nil || !strings.Contains(err.Error(), "bash, zsh, fish") {
		t.Errorf("tcsh: %v", err)
	}
}
