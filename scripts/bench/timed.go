//go:build linux

package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// timings is what the timed calls of the rows, and the checks made right
// after them, measured. Its slices are indexed as rows.
type timings struct {
	rows    []row
	samples [][]time.Duration
	failed  [][]result // the failing rows' calls
	rss     []int64    // peak RSS in KiB
	// uncachedCalls is the timed calls of the uncached row: the token
	// requests the timed calls should make, one each.
	uncachedCalls  int
	timedRequests  int // to the emulator, during the timed calls
	outageRequests int // to the failing endpoint, during the timed calls
	// The fake OIDC issuer's requests after the first calls filled the
	// caches: during the timed calls, and in all.
	issuerTimed, issuerTotal int64
	// The no-network check: the command prefix (nil when it could not run,
	// and why), the rows that answered and those that did not.
	netns                  []string
	netnsWhy               string
	offline, offlineFailed []string
}

// timeRows makes the timed calls of the active rows, then measures each
// one's peak RSS and calls each cached one once more with no network,
// counting the token requests all of them make.
func (b *bench) timeRows(rows []row, active []int) (*timings, error) {
	t := &timings{rows: rows, samples: make([][]time.Duration, len(rows)), failed: make([][]result, len(rows)), rss: make([]int64, len(rows))}
	b.handler.ResetRequests()
	b.out.handler.ResetRequests()
	issuerBefore := b.issuer.requests()
	if err := t.timeCalls(active, b.cfg.runs); err != nil {
		return nil, err
	}
	t.outageRequests = b.out.handler.Requests()
	t.timedRequests = b.handler.Requests()
	t.issuerTimed = b.issuer.requests() - issuerBefore
	if err := t.measureRSS(active); err != nil {
		return nil, err
	}
	t.checkOffline(active)
	t.issuerTotal = b.issuer.requests() - issuerBefore
	return t, nil
}

// timeCalls calls every active row runs times, interleaved.
func (t *timings) timeCalls(active []int, runs int) error {
	for range runs {
		for _, i := range active {
			r := t.rows[i]
			res := call(r, false)
			if !r.ok(res) {
				return fmt.Errorf("%s: %v: %s", r.name, res.err, res.stderr)
			}
			t.samples[i] = append(t.samples[i], res.wall)
			if r.fails {
				t.failed[i] = append(t.failed[i], res)
			}
			if r.id == "uncached" {
				t.uncachedCalls++
			}
		}
	}
	return nil
}

// measureRSS takes each active row's peak RSS over 10 calls: the child's
// own, through /usr/bin/time. A child forked by this (larger) Go process
// would report this process's RSS as its peak.
func (t *timings) measureRSS(active []int) error {
	for _, i := range active {
		for range 10 {
			kib, err := peakRSS(t.rows[i])
			if err != nil {
				return fmt.Errorf("%s: peak RSS: %v", t.rows[i].name, err)
			}
			t.rss[i] = max(t.rss[i], kib)
		}
	}
	return nil
}

// checkOffline calls each cached row once more, in a network namespace of
// its own with no interface up. A row that needed the network (or missed
// its cache and tried to refresh) fails there.
func (t *timings) checkOffline(active []int) {
	t.netns, t.netnsWhy = emptyNetns()
	if t.netns == nil {
		return
	}
	for _, i := range active {
		r := t.rows[i]
		if !r.offline {
			continue
		}
		wrapped := r
		wrapped.args = append(slices.Clone(t.netns), r.args...)
		res := call(wrapped, true)
		if res.err != nil || !strings.Contains(res.stdout, r.want) {
			t.offlineFailed = append(t.offlineFailed, fmt.Sprintf("%s (%s)", r.name, firstLine(res.stderr, res.err)))
			continue
		}
		t.offline = append(t.offline, r.id)
	}
}

// median is the median of the row named id over its floor's, if the row
// was measured.
func (t *timings) median(id string) (float64, bool) {
	for i, r := range t.rows {
		if r.id == id && len(t.samples[i]) > 0 {
			return ratio(t.rows, t.samples, i, 0.5), true
		}
	}
	return 0, false
}

// printChecks prints what the checks of the timed calls found: the
// no-network check, the token requests to the emulator, to the failing
// endpoint and to the fake OIDC issuer. It returns what was wrong.
func (t *timings) printChecks(runs int) []string {
	var problems []string
	// The timed calls' token requests: the uncached row's one each, and
	// none from any cached row.
	if t.timedRequests != t.uncachedCalls {
		problems = append(problems, fmt.Sprintf("the timed calls made %d token requests, want %d (one per uncached call)", t.timedRequests, t.uncachedCalls))
	}
	fmt.Println()
	switch {
	case t.netns == nil:
		fmt.Printf("- The no-network check could not run here (%s).\n", t.netnsWhy)
		problems = append(problems, "the no-network check could not run: "+t.netnsWhy)
	case len(t.offlineFailed) > 0:
		fmt.Printf("- **Needed the network** (failed in an empty network namespace): %s.\n", strings.Join(t.offlineFailed, "; "))
		problems = append(problems, "rows that needed the network: "+strings.Join(t.offlineFailed, "; "))
	default:
		fmt.Printf("- No network: every cached row (%d: ours and the peers) answered its cached secret once more inside an empty network namespace (`%s`), with no interface up.\n",
			len(t.offline), strings.Join(t.netns, " "))
	}
	fmt.Printf("- Token requests during the timed calls: %d (want %d: one per uncached call, none from a cached row).\n", t.timedRequests, t.uncachedCalls)
	for i, r := range t.rows {
		if r.fails && len(t.failed[i]) > 0 {
			fmt.Printf("- The outage rows' %d timed calls each (%s): the failing endpoint got %d token requests, the attempts the back-off let through; of the failing row's calls, %d failed at once inside the back-off and %d made a full attempt (5 requests, with the retries' waits) when it had ended.\n",
				runs, "`outage`, `outage-failing`", t.outageRequests, fastFails(t.failed[i]), len(t.failed[i])-fastFails(t.failed[i]))
		}
	}
	fmt.Printf("- Requests to kubelogin's fake OIDC issuer after its first calls filled the caches: %d (want 0).\n", t.issuerTotal)
	if t.issuerTotal != 0 {
		problems = append(problems, fmt.Sprintf("kubelogin's cached calls made %d requests to the issuer (%d during the timed calls), want 0", t.issuerTotal, t.issuerTimed))
	}
	return problems
}

// printOverhead prints a cold call's own overhead: its wall time minus the
// time the emulator took to answer it, call by call.
func (b *bench) printOverhead(rows []row, samples [][]time.Duration) error {
	i := slices.IndexFunc(rows, func(r row) bool { return r.id == "uncached" })
	if i < 0 || rows[i].skipped != "" {
		return nil
	}
	var overhead, serverSide []time.Duration
	for range min(b.cfg.runs, 100) {
		b.served.reset()
		res := call(rows[i], false)
		if res.err != nil {
			return fmt.Errorf("uncached call: %v: %s", res.err, res.stderr)
		}
		st := b.served.total()
		overhead = append(overhead, res.wall-st)
		serverSide = append(serverSide, st)
	}
	floor := percentile(samples[0], 0.5)
	fmt.Printf("- An uncached call's own overhead (its wall time minus the emulator's %s median response time): median %s, %.2f× the floor.\n",
		fmtDur(percentile(serverSide, 0.5)), fmtDur(percentile(overhead, 0.5)), float64(percentile(overhead, 0.5))/float64(floor))
	return nil
}
