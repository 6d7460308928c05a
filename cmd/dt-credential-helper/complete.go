package main

import (
	"context"
	"flag"
	"io"
	"slices"
	"strings"

	"github.com/dt-credential-helper/dt-credential-helper/internal/completion"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// completionLine is completion's command line: the shell is its operand.
type completionLine struct{}

func (l *completionLine) flags(e env) *flagSet {
	fs := newFlagSet(e, "completion", "completion "+completion.ShellChoices)
	fs.about = `Prints the script that completes this program's commands, flags, profile
names and the values of -o, --cache and the like, for the shell named:

  bash   source <(` + prog + ` completion bash), in ~/.bashrc;
         or save it as /usr/share/bash-completion/completions/` + prog + `
  zsh    source <(` + prog + ` completion zsh), in ~/.zshrc after compinit;
         or save it as _` + prog + ` in a directory of $fpath
  fish   ` + prog + ` completion fish > ~/.config/fish/completions/` + prog + `.fish

At each Tab the script asks this program what to offer, so it stays right
when the program is upgraded. For --profile it reads the profiles file; it
never reads a secret, the keyring or the network.`
	fs.operands = completion.ShellChoices
	return fs
}

func runCompletion(_ context.Context, e env, args []string) error {
	fs := new(completionLine).flags(e)
	if err := parse(fs, args, true); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("completion: name one shell: %s", strings.Join(completion.Shells(), ", "))
	}
	script, err := completion.Script(fs.Arg(0), prog)
	if err != nil {
		return usagef("completion: %v", err)
	}
	_, err = io.WriteString(e.stdout, script)
	return err
}

// runComplete answers a completion script (completion.Hidden): the
// candidates for the last of args, the word under the cursor. It reads
// the profiles file, for --profile, and nothing else: no secret, no
// keyring, no network. Nor does it print an error, which the shell would
// show among the candidates: a profiles file it cannot read offers no
// profile name, and the command run then says why.
func runComplete(e env, args []string) error {
	return completionTree(e).Complete(args).Write(e.stdout)
}

// completionTree is the command line as the completions see it: each
// command of commands() with the flags its flag set registers (but the
// --secret trap), the same flag set run parses with.
func completionTree(e env) completion.Tree {
	quiet := e
	quiet.stdout = io.Discard
	t := completion.Tree{Default: defaultCommand}
	for _, c := range commands() {
		fs := c.flags(quiet)
		cmd := completion.Command{
			Name: c.name, Summary: c.summary,
			Operands:          choiceList(fs.operands),
			FlagsAfterOperand: fs.flagsAfterOperand,
			RunsCommand:       fs.runsCommand,
		}
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name != secretFlag {
				cmd.Flags = append(cmd.Flags, completionFlag(e, fs, f))
			}
		})
		t.Commands = append(t.Commands, cmd)
	}
	return t
}

// fileFlags are the flags whose value is a file name.
const fileFlags = "credentials-file vault-jwt-file file kubeconfig"

// completionFlag is f of fs as the completions see it: its values are
// those fs.choices gives it, else those of the flag of its name every
// command means the same by (--profile, --cache), else a file name for
// fileFlags.
func completionFlag(e env, fs *flagSet, f *flag.Flag) completion.Flag {
	out := completion.Flag{Name: f.Name, Usage: f.Usage, Bool: isBoolFlag(f)}
	switch {
	case slices.Contains(strings.Fields(fs.choices.flags), f.Name):
		values := choiceList(fs.choices.values)
		out.Values = func() []string { return values }
	case f.Name == "profile":
		out.Values = func() []string { return profileNames(e.getenv) }
	case f.Name == "cache":
		out.Values = keyring.ModeNames
	case slices.Contains(strings.Fields(fileFlags), f.Name):
		out.Files = true
	}
	return out
}

// choiceList splits a list as a usage line writes it ("a|b|c").
func choiceList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "|")
}

// isBoolFlag reports whether f takes no value, as the flag package decides.
func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// profileNames are the profiles of the profiles file, which profile.Load
// reads only when it is trusted; none when it cannot be read.
func profileNames(getenv func(string) string) []string {
	path, err := profile.DefaultPath(getenv)
	if err != nil {
		return nil
	}
	f, err := profile.Load(path)
	if err != nil {
		return nil
	}
	return f.Names()
}
