package main

import (
	"flag"
	"slices"
	"strings"
)

// closest returns the candidate a mistyped name most likely meant: the one
// fewest edits away (a letter added, dropped, changed, or two swapped),
// when that is at most two edits and less than half the candidate, else
// the one candidate the name is a prefix of (three letters at least); ""
// when none is close. Ties go to the first in sorted order.
func closest(name string, candidates []string) string {
	best, bestDist := "", 3
	var prefixed []string
	for _, c := range slices.Sorted(slices.Values(candidates)) {
		if d := editDistance(name, c); d < bestDist && 2*d < len(c) {
			best, bestDist = c, d
		}
		if len(name) >= 3 && strings.HasPrefix(c, name) {
			prefixed = append(prefixed, c)
		}
	}
	if best == "" && len(prefixed) == 1 {
		return prefixed[0]
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of two neighbours, each
// one edit.
func editDistance(a, b string) int {
	// d[i][j] is the distance between a[:i] and b[:j].
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// unknownFlag is the error for flag name, not one of fs's, as typed in
// args: the flag it most likely meant, and where the list is.
func unknownFlag(fs *flagSet, args []string, name string) error {
	typed := "--" + name
	for _, a := range args {
		if a == "--" {
			break
		}
		if f, _, _ := strings.Cut(a, "="); strings.TrimLeft(f, "-") == name && strings.HasPrefix(f, "-") {
			typed = f
			break
		}
	}
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != secretFlag {
			names = append(names, f.Name)
		}
	})
	if c := closest(name, names); c != "" {
		return usagef("%s: unknown flag %s; did you mean --%s? Run '%s %s --help' for its flags", fs.Name(), typed, c, prog, fs.Name())
	}
	return usagef("%s: unknown flag %s; run '%s %s --help' for its flags", fs.Name(), typed, prog, fs.Name())
}

// unknownCommand is the error for a command that is none of the
// program's: the one it most likely meant, and where the list is.
func unknownCommand(name string) error {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	if c := closest(name, names); c != "" {
		return usagef("unknown command %q; did you mean %q? Run '%s --help' for the list", name, c, prog)
	}
	return usagef("unknown command %q; run '%s --help' for the list", name, prog)
}
