//go:build linux

package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// ratio is row i's percentile p over its floor's.
func ratio(rows []row, samples [][]time.Duration, i int, p float64) float64 {
	f := slices.IndexFunc(rows, func(r row) bool {
		return r.skipped == "" && r.floor == rows[i].floor && strings.HasPrefix(r.id, "floor")
	})
	return float64(percentile(samples[i], p)) / float64(percentile(samples[f], p))
}

func printTable(rows []row, samples [][]time.Duration, rss []int64) {
	fmt.Println("| row | median | p95 | × floor | p95 × floor | peak RSS | floor |")
	fmt.Println("|---|--:|--:|--:|--:|--:|---|")
	for i, r := range rows {
		if r.skipped != "" {
			fmt.Printf("| %s | %s | | | | | |\n", r.name, strings.ReplaceAll(r.skipped, "|", `\|`))
			continue
		}
		name := r.name
		if r.id == "auto" || r.id == "file" {
			name = "**" + name + "**"
		}
		fmt.Printf("| %s | %s | %s | %.2f× | %.2f× | %.1f MiB | %s |\n", name,
			fmtDur(percentile(samples[i], 0.5)), fmtDur(percentile(samples[i], 0.95)),
			ratio(rows, samples, i, 0.5), ratio(rows, samples, i, 0.95), float64(rss[i])/1024, r.floor)
	}
}

// printSplit reads the cost of one part off two rows that differ by it.
func printSplit(med func(string) (float64, bool)) {
	parts := []struct{ part, a, b, how string }{
		{"the Secret Service read over a file read", "keyring", "file", "`--cache keyring` − `--cache file`"},
		{"the kernel keyring read over a file read", "kernel", "file", "`--cache kernel` − `--cache file`"},
		{"auto over the file store", "auto", "file", "default auto − default `--cache file`"},
	}
	fmt.Println("\nThe same run splits a cached call's cost, its rows differing by one part each (medians, in units of the floor):")
	fmt.Println()
	fmt.Println("| part | read off as | × floor |")
	fmt.Println("|---|---|--:|")
	if v, ok := med("file"); ok {
		fmt.Printf("| starting a binary that can refresh, our own work and a file read | `--cache file` | %.2f× |\n", v)
	}
	// Kept, so that the tables of earlier runs still read against this one.
	fmt.Println("| linking go-plugin (gRPC, protobuf) into the binary | removed: the default build no longer links the plugin, which dt-credential-helper-plugin serves | |")
	for _, p := range parts {
		a, okA := med(p.a)
		b, okB := med(p.b)
		if okA && okB {
			fmt.Printf("| %s | %s | %+.2f× |\n", p.part, p.how, a-b)
		}
	}
}

// printTargets sets this run against the project's speed targets. They are reported,
// not asserted: a slow machine must not fail the run.
func printTargets(rows []row, samples [][]time.Duration, rss []int64, med func(string) (float64, bool)) {
	fastestPeer, peerName := 0.0, ""
	var ourRSS int64
	for i, r := range rows {
		if r.skipped != "" {
			continue
		}
		if strings.HasPrefix(r.id, "peer-") {
			if v := ratio(rows, samples, i, 0.5); peerName == "" || v < fastestPeer {
				fastestPeer, peerName = v, r.name
			}
		}
		if r.ours {
			ourRSS = max(ourRSS, rss[i])
		}
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	fmt.Println("\nAgainst the speed targets (reported, not asserted): a cached call at most 2.0× the floor in the default mode and 1.8× with `--cache file`, and faster than every peer:")
	fmt.Println()
	if peerName != "" {
		fmt.Printf("| cached call, default build | × floor | target | met | faster than every peer (the fastest: %s, %.2f×) |\n", strings.TrimPrefix(peerName, "peer, "), fastestPeer)
	} else {
		fmt.Println("| cached call, default build | × floor | target | met | faster than every peer (none measured) |")
	}
	fmt.Println("|---|--:|--:|---|---|")
	faster := func(v float64) string {
		if peerName == "" {
			return ""
		}
		return verdict(v < fastestPeer)
	}
	for _, t := range []struct{ id, what string }{{"auto", "`token`, auto"}, {"git", "`git get`, auto"}, {"docker", "`docker get`, auto"},
		{"outage", "`token`, auto, during an outage (cached, after the first failure)"}} {
		if v, ok := med(t.id); ok {
			fmt.Printf("| %s | %.2f× | ≤ 2.0× | %s | %s |\n", t.what, v, verdict(v <= 2.0), faster(v))
		}
	}
	if v, ok := med("file"); ok {
		fmt.Printf("| `token`, `--cache file` | %.2f× | ≤ 1.8× | %s | |\n", v, verdict(v <= 1.8))
	}
	fmt.Printf("\nPeak RSS, the largest of our rows: %.1f MiB (target: under 15 MiB, %s).\n", float64(ourRSS)/1024, verdict(ourRSS < 15*1024))
}
