// Package completion completes a program's command line in bash, zsh and
// fish. The scripts it prints hold no command, flag or value: at each Tab
// they run the program's hidden command (Hidden) with the words typed so
// far, and the program answers with Tree.Complete over the same flag sets
// it parses with. A command or flag added to the program is completed with
// no change to a script, and an installed script stays right across
// upgrades of the program.
package completion

import (
	"io"
	"slices"
	"strings"
)

// Hidden is the command the scripts run: PROG __complete WORD... writes the
// candidates for the last WORD, the one under the cursor (empty after a
// space), in Result.Write's form.
const Hidden = "__complete"

// Tree is a program's command line: its commands and their flags.
type Tree struct {
	Commands []Command
	// Default is the command that runs when the first word is a flag.
	Default string
}

// Command is one command of a Tree.
type Command struct {
	Name, Summary string
	Flags         []Flag
	// Operands are the values the command's first operand takes, such as
	// a protocol's actions.
	Operands []string
	// FlagsAfterOperand says flags may follow the operand; otherwise, as
	// Go's flag package parses, flags end at the first operand.
	FlagsAfterOperand bool
	// RunsCommand says the words after "--" are a command line of their
	// own: a program to run, then its arguments.
	RunsCommand bool
}

// Flag is a flag of a Command.
type Flag struct {
	Name, Usage string
	// Bool flags take no value.
	Bool bool
	// Values, when not nil, returns the values the flag takes: a fixed
	// list, or one read when it is completed.
	Values func() []string
	// Files says the value is a file name, which the shell completes.
	Files bool
}

// Candidate is one completion and what it is.
type Candidate struct{ Value, Description string }

// Directive says what the shell completes itself, after the candidates.
type Directive string

// The directives.
const (
	// Nothing: the candidates only, not even file names.
	Nothing Directive = ""
	// Files: file names.
	Files Directive = "files"
	// CommandNames: the names of commands on PATH.
	CommandNames Directive = "commands"
)

// Result is what completes a word.
type Result struct {
	Candidates []Candidate
	Directive  Directive
}

// Write writes r as the scripts read it: one candidate a line, its value
// then a tab and its description, and last a line of a colon and the
// directive.
func (r Result) Write(w io.Writer) error {
	var b strings.Builder
	for _, c := range r.Candidates {
		b.WriteString(c.Value)
		if c.Description != "" {
			b.WriteString("\t" + oneLine(c.Description))
		}
		b.WriteString("\n")
	}
	b.WriteString(":" + string(r.Directive) + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// oneLine is s's first line, without tabs.
func oneLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.ReplaceAll(s, "\t", " ")
}

// Complete returns the completions of the last of words, the words after
// the program's name.
func (t Tree) Complete(words []string) Result {
	if len(words) == 0 {
		words = []string{""}
	}
	first := words[0]
	if len(words) == 1 && !strings.HasPrefix(first, "-") {
		var r Result
		for _, c := range t.Commands {
			if strings.HasPrefix(c.Name, first) {
				r.Candidates = append(r.Candidates, Candidate{c.Name, c.Summary})
			}
		}
		return r
	}
	name, args := first, words[1:]
	if strings.HasPrefix(first, "-") {
		name, args = t.Default, words
	}
	i := slices.IndexFunc(t.Commands, func(c Command) bool { return c.Name == name })
	if i < 0 {
		return Result{}
	}
	return t.Commands[i].complete(args)
}

// complete returns the completions of the last of args, the words after
// the command's name.
func (c *Command) complete(args []string) Result {
	before, cur := args[:len(args)-1], args[len(args)-1]
	var pending *Flag // a flag whose value comes next
	operands, dash := 0, -1
	for i, w := range before {
		switch {
		case pending != nil:
			pending = nil
		case dash >= 0:
		case w == "--":
			dash = i
		case strings.HasPrefix(w, "-") && c.flagsAllowed(operands):
			if f := c.flag(w); f != nil && !f.Bool && !strings.Contains(w, "=") {
				pending = f
			}
		default:
			operands++
		}
	}
	switch {
	case pending != nil:
		return pending.complete(cur, "")
	case dash >= 0 && !c.RunsCommand:
		return Result{}
	case dash >= 0 && dash == len(before)-1:
		return Result{Directive: CommandNames}
	case dash >= 0:
		return Result{Directive: Files}
	case strings.HasPrefix(cur, "-") && c.flagsAllowed(operands):
		if name, value, ok := strings.Cut(cur, "="); ok {
			if f := c.flag(name); f != nil && !f.Bool {
				return f.complete(value, name+"=")
			}
			return Result{}
		}
		return c.flagNames(cur)
	case operands == 0:
		return choices(c.Operands, cur, "")
	}
	return Result{}
}

func (c *Command) flagsAllowed(operands int) bool { return operands == 0 || c.FlagsAfterOperand }

// flag returns the flag word names (-name, --name or either with =value),
// or nil.
func (c *Command) flag(word string) *Flag {
	name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(word, "-"), "-"), "=")
	for i := range c.Flags {
		if c.Flags[i].Name == name {
			return &c.Flags[i]
		}
	}
	return nil
}

// flagNames returns the flags that begin with cur: as --name (-x for a
// one-letter name), or, when cur is a single dash and a letter, as -name,
// which Go's flag package reads too.
func (c *Command) flagNames(cur string) Result {
	single := len(cur) > 1 && cur[1] != '-'
	var r Result
	for _, f := range c.Flags {
		spelt := "--" + f.Name
		if len(f.Name) == 1 || single {
			spelt = "-" + f.Name
		}
		if strings.HasPrefix(spelt, cur) {
			r.Candidates = append(r.Candidates, Candidate{spelt, f.Usage})
		}
	}
	return r
}

// complete returns the values of f that begin with cur, each after prefix
// (the flag and "=" when the value is typed in the same word).
func (f *Flag) complete(cur, prefix string) Result {
	if f.Files {
		return Result{Directive: Files}
	}
	if f.Values == nil {
		return Result{}
	}
	return choices(f.Values(), cur, prefix)
}

// choices returns the values that begin with cur, each after prefix.
func choices(values []string, cur, prefix string) Result {
	var r Result
	for _, v := range values {
		if strings.HasPrefix(v, cur) {
			r.Candidates = append(r.Candidates, Candidate{Value: prefix + v})
		}
	}
	return r
}
