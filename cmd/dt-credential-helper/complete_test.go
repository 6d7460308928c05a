package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

// The completion scripts run in the real shells, each asking the built
// binary: bash through the function `complete -p` names, called as
// readline calls it (COMP_LINE, COMP_POINT, COMP_WORDS, COMP_CWORD); zsh
// interactive, with compinit, in a pseudo-terminal of its own (zpty), Tab
// typed; fish through `complete -C`, its own way to ask for the
// completions of a line.

// completionSetup returns an environment whose PATH finds the binary and
// whose profiles file holds prod-eu and staging, stored by the real login
// (with the secret in a private file, checked by no token request), and a
// directory holding credentials.json.
func completionSetup(t *testing.T) (env []string, dir string) {
	t.Helper()
	env = baseEnv(t, "http://127.0.0.1:1/oauth2/token") // never reached
	env = withEnv(env, "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, p := range []string{"prod-eu", "staging"} {
		r := runBinary(t, env, "not-a-real-secret\n", "login", "--profile", p, "--key-id", "key-"+p,
			"--email", "sa@project.serviceaccount.d21s.com", "--no-verify", "--store", "file")
		if r.code != 0 {
			t.Fatalf("login --profile %s: exit %d: %s", p, r.code, r.stderr)
		}
	}
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "credentials.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	return env, dir
}

// lookShell returns the path of shell, or skips (fails in CI) without it.
func lookShell(t *testing.T, shell string) string {
	t.Helper()
	path, err := exec.LookPath(shell)
	if err != nil {
		testutil.SkipOutsideCI(t, shell+" is not installed: install it (Debian: apt-get install "+shell+") to run this test")
	}
	return path
}

// runShell runs shell with args in env and returns its stdout.
func runShell(t *testing.T, env []string, shell string, args ...string) string {
	t.Helper()
	cmd := exec.Command(lookShell(t, shell), args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s: %v\n%s\n%s", shell, err, out, stderr)
	}
	return string(out)
}

// bashCompletions loads `completion bash` into a real bash and returns, for
// each line (the text before the cursor), what the function `complete -p`
// registers for the program puts in COMPREPLY.
func bashCompletions(t *testing.T, env []string, lines []string) [][]string {
	t.Helper()
	const script = `source <(dt-credential-helper completion bash) || exit 1
spec=$(complete -p dt-credential-helper) || exit 1
fn=${spec#*-F }; fn=${fn%% *}
for line; do
	COMP_LINE=$line COMP_POINT=${#line}
	read -r -a COMP_WORDS <<<"$line"
	[[ $line == *' ' ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	"$fn" dt-credential-helper "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
	printf '%s\t' "${COMPREPLY[@]}"
	echo
done`
	out := runShell(t, env, "bash", append([]string{"--norc", "--noprofile", "-c", script, "bash"}, lines...)...)
	return splitCompletions(t, out, len(lines), "\t")
}

// fishCompletions loads `completion fish` into a real fish and returns what
// `complete -C` offers for each line, values without their descriptions.
func fishCompletions(t *testing.T, env []string, lines []string) [][]string {
	t.Helper()
	// complete -C prints "value<tab>description" lines: one line each
	// here, the candidates separated by \x1f.
	const script = `dt-credential-helper completion fish | source; or exit 1
for line in $argv
	set -l c (complete -C"$line")
	echo (string join \x1f -- $c)
end`
	out := runShell(t, env, "fish", append([]string{"--no-config", "-c", script}, lines...)...)
	return splitCompletions(t, out, len(lines), "\x1f")
}

// splitCompletions splits out into n lines of candidates separated by sep,
// each its value and perhaps a tab and a description, and returns the
// values of each line, sorted, each once.
func splitCompletions(t *testing.T, out string, n int, sep string) [][]string {
	t.Helper()
	rows := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(rows) != n {
		t.Fatalf("want %d lines of completions, got %d:\n%s", n, len(rows), out)
	}
	var res [][]string
	for _, row := range rows {
		var got []string
		for f := range strings.SplitSeq(row, sep) {
			if v, _, _ := strings.Cut(f, "\t"); v != "" {
				got = append(got, v)
			}
		}
		slices.Sort(got)
		res = append(res, slices.Compact(got))
	}
	return res
}

// completionCases are lines and what a shell lists for them.
func completionCases(dir string) []struct {
	line string
	want []string
} {
	return []struct {
		line string
		want []string
	}{
		{"dt-credential-helper comp", []string{"completion"}},
		{"dt-credential-helper token --pro", []string{"--profile"}},
		{"dt-credential-helper token --profile ", []string{"prod-eu", "staging"}},
		{"dt-credential-helper --profile st", []string{"staging"}}, // no command: token
		{"dt-credential-helper exec --profile p", []string{"prod-eu"}},
		{"dt-credential-helper token -o e", []string{"exec-credential"}},
		{"dt-credential-helper version -o ", []string{"json", "text"}},
		{"dt-credential-helper status --cache k", []string{"kernel", "keyring"}},
		{"dt-credential-helper login --store ", []string{"file", "keyring"}},
		{"dt-credential-helper git ", []string{"erase", "get", "store"}},
		{"dt-credential-helper docker l", []string{"list"}},
		{"dt-credential-helper configure ", []string{"docker", "git", "kubectl"}},
		{"dt-credential-helper configure docker --dry", []string{"--dry-run"}},
		{"dt-credential-helper completion ", []string{"bash", "fish", "zsh"}},
		{"dt-credential-helper token --credentials-file " + dir + "/cred", []string{dir + "/credentials.json"}},
		{"dt-credential-helper exec -- dt-credential-helper-pl", []string{"dt-credential-helper-plugin"}},
		// A value of free text: nothing, not even file names.
		{"dt-credential-helper token --key-id ", nil},
		{"dt-credential-helper git get --", nil}, // flags end at the action
	}
}

// TestCompletionBashAndFish: commands, flags, profile names, the values of
// -o, --cache and --store, the git, docker and configure operands, file
// names and exec's command, in real bash and fish.
func TestCompletionBashAndFish(t *testing.T) {
	t.Parallel()
	env, dir := completionSetup(t)
	cases := completionCases(dir)
	var lines []string
	for _, c := range cases {
		lines = append(lines, c.line)
	}
	// bash splits --cache=k at '='; readline completes what follows it.
	bashLines := append(slices.Clone(lines), "dt-credential-helper token --cache=ker", "dt-credential-helper token --credentials-file="+dir+"/cred")
	bashWant := [][]string{{"kernel"}, {dir + "/credentials.json"}}
	// fish offers the whole word.
	fishLines := append(slices.Clone(lines), "dt-credential-helper token --cache=ker", "dt-credential-helper token --credentials-file="+dir+"/cred")
	fishWant := [][]string{{"--cache=kernel"}, {"--credentials-file=" + dir + "/credentials.json"}}
	for _, sh := range []struct {
		name  string
		lines []string
		want  [][]string
		run   func(*testing.T, []string, []string) [][]string
	}{
		{"bash", bashLines, bashWant, bashCompletions},
		{"fish", fishLines, fishWant, fishCompletions},
	} {
		t.Run(sh.name, func(t *testing.T) {
			got := sh.run(t, env, sh.lines)
			for i, line := range sh.lines {
				var want []string
				if i < len(cases) {
					want = cases[i].want
				} else {
					want = sh.want[i-len(cases)]
				}
				if diff := cmp.Diff(want, got[i]); diff != "" {
					t.Errorf("%s: %q offers (-want +got):\n%s", sh.name, line, diff)
				}
			}
		})
	}
}

// TestCompletionZsh types a line and Tab into an interactive zsh (zpty),
// compinit loaded and the script sourced, and reads the line after the
// completion: a command, a flag, a profile name, a value after '=', an
// action, a file name and exec's command.
func TestCompletionZsh(t *testing.T) {
	t.Parallel()
	env, dir := completionSetup(t)
	out := filepath.Join(t.TempDir(), "lines")
	// A widget bound to ^T writes the edited line to $out and clears it;
	// each line is typed once the previous one is written, so no
	// completion runs with typed-ahead input waiting.
	const script = `zmodload zsh/zpty || exit 3
out=$1; shift
: >$out
zpty z zsh -f -i || exit 3
zpty -w z 'PS1=; autoload -Uz compinit && compinit -u -D'
zpty -w z 'source <(dt-credential-helper completion zsh)'
zpty -w z 'dump() { print -r -- "$BUFFER|" >>'${(q)out}'; BUFFER=; }; zle -N dump; bindkey "^T" dump'
n=0
for line; do
	zpty -w -n z "$line"$'\t\x14'
	(( n++ ))
	for i in {1..200}; do
		(( $(wc -l <$out) >= n )) && break
		sleep 0.05
	done
done
zpty -d z`
	cases := []struct{ line, want string }{
		{"dt-credential-helper comp", "dt-credential-helper completion "},
		{"dt-credential-helper token --pro", "dt-credential-helper token --profile "},
		{"dt-credential-helper token --profile st", "dt-credential-helper token --profile staging "},
		{"dt-credential-helper token --cache=ker", "dt-credential-helper token --cache=kernel "},
		{"dt-credential-helper git er", "dt-credential-helper git erase "},
		{"dt-credential-helper token --credentials-file " + dir + "/cred", "dt-credential-helper token --credentials-file " + dir + "/credentials.json "},
		{"dt-credential-helper exec -- dt-credential-helper-pl", "dt-credential-helper exec -- dt-credential-helper-plugin "},
		{"dt-credential-helper token --key-id ", "dt-credential-helper token --key-id "},
	}
	args := []string{"-f", "-c", script, "zsh", out}
	for _, c := range cases {
		args = append(args, c.line)
	}
	runShell(t, env, "zsh", args...)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(got) != len(cases) {
		t.Fatalf("zsh wrote %d lines, want %d:\n%s", len(got), len(cases), b)
	}
	for i, c := range cases {
		if got[i] != c.want+"|" {
			t.Errorf("zsh: %q then Tab gives %q, want %q", c.line, strings.TrimSuffix(got[i], "|"), c.want)
		}
	}
}

// TestCompletionOffersEveryCommandAndFlag: bash and fish offer every
// command, and for each exactly the flags its --help lists. --help prints
// the flag set the command parses with, so a command or a flag added to the
// program that the completions did not offer fails here, whichever command
// it is.
func TestCompletionOffersEveryCommandAndFlag(t *testing.T) {
	t.Parallel()
	env, _ := completionSetup(t)
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	lines := []string{"dt-credential-helper "}
	wants := [][]string{slices.Sorted(slices.Values(names))}
	for _, name := range names {
		help := runInProcess(t, env, "", name, "--help")
		var flags []string
		for _, f := range helpFlags(help.stdout) {
			flags = append(flags, flagSpelling(f))
		}
		slices.Sort(flags)
		lines = append(lines, "dt-credential-helper "+name+" -")
		wants = append(wants, flags)
	}
	for name, complete := range map[string]func(*testing.T, []string, []string) [][]string{"bash": bashCompletions, "fish": fishCompletions} {
		t.Run(name, func(t *testing.T) {
			got := complete(t, env, lines)
			for i, line := range lines {
				if diff := cmp.Diff(wants[i], got[i]); diff != "" {
					t.Errorf("%q offers other than --help lists (-help +completion):\n%s", line, diff)
				}
			}
		})
	}
}

// TestCompleteReadsNoSecret: profile names come from the profiles file
// alone (profile.Load), and a completion prints no error, which the shell
// would offer as a candidate: with the secret files gone and no session
// bus, the names are offered; with a profiles file others may write, which
// no command trusts, none are, silently.
func TestCompleteReadsNoSecret(t *testing.T) {
	t.Parallel()
	env, _ := completionSetup(t)
	env = withEnv(env, "DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent", "DT_TOKEN_CACHE=keyring")
	config := filepath.Join(envValue(env, "XDG_CONFIG_HOME"), "dt-credential-helper")
	if err := os.RemoveAll(filepath.Join(config, "secrets")); err != nil {
		t.Fatal(err)
	}
	r := runBinary(t, env, "", "__complete", "token", "--profile", "")
	if r.code != 0 || r.stdout != "prod-eu\nstaging\n:\n" || r.stderr != "" {
		t.Errorf("__complete token --profile '': exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// A profiles file others may write is not read: no names, no error.
	if err := os.Chmod(filepath.Join(config, "profiles.json"), 0o666); err != nil {
		t.Fatal(err)
	}
	r = runBinary(t, env, "", "__complete", "token", "--profile", "")
	if r.code != 0 || r.stdout != ":\n" || r.stderr != "" {
		t.Errorf("with the profiles file writable by others: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
