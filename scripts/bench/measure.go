//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/plugin"
)

// result is one call of a row.
type result struct {
	wall           time.Duration
	stdout, stderr string
	err            error
}

// call runs r once. Its stdout is kept only when keep is set: the timed
// calls send it to /dev/null, the same for every row.
func call(r row, keep bool) result {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.args[0], r.args[1:]...)
	cmd.Env = r.env
	if r.stdin != "" {
		cmd.Stdin = strings.NewReader(r.stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stderr = &stderr
	if keep {
		cmd.Stdout = &stdout
	}
	start := time.Now()
	err := cmd.Run()
	return result{wall: time.Since(start), stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// peakRSS runs r under /usr/bin/time and returns the child's peak RSS in KiB.
func peakRSS(r row) (int64, error) {
	f, err := os.CreateTemp("", "dt-bench-rss-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	f.Close()
	cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", f.Name()}, r.args...)...)
	cmd.Env = r.env
	if r.stdin != "" {
		cmd.Stdin = strings.NewReader(r.stdin)
	}
	if out, err := cmd.CombinedOutput(); err != nil && !(r.fails && exitCode(err) == 1) {
		return 0, fmt.Errorf("%v: %s", err, out)
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return 0, err
	}
	// The last line: a command that fails gets a "Command exited with
	// non-zero status" line before it.
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var kib int64
	_, err = fmt.Sscan(lines[len(lines)-1], &kib)
	return kib, err
}

// emptyNetns returns the command prefix that runs a command in a new
// network namespace, where no interface is up (not even loopback), or why
// there is none. Unix sockets named by a path (the D-Bus session bus,
// git's credential cache) still connect from there; TCP does not.
func emptyNetns() ([]string, string) {
	var tried []string
	for _, prefix := range [][]string{
		{"unshare", "--net", "--"},
		{"unshare", "--user", "--map-root-user", "--net", "--"},
	} {
		out, err := exec.Command(prefix[0], append(slices.Clone(prefix[1:]), "cat", "/proc/net/dev")...).CombinedOutput()
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", strings.Join(prefix, " "), firstLine(string(out), err)))
			continue
		}
		// Only lo may be listed, and it must be down: it is, in a new
		// namespace, so any traffic counter but lo's means the wrong one.
		lines := strings.Split(string(out), "\n")
		if len(lines) < 3 {
			return nil, "unexpected /proc/net/dev in a new network namespace: " + firstLine(string(out), nil)
		}
		for _, l := range lines[2:] {
			if name, _, ok := strings.Cut(strings.TrimSpace(l), ":"); ok && name != "lo" {
				return nil, "unshare kept interface " + name
			}
		}
		return prefix, ""
	}
	return nil, strings.Join(tried, "; ")
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// serverTimes sums the emulator's handling time of the requests of one call.
type serverTimes struct {
	mu  sync.Mutex
	sum time.Duration
}

func (s *serverTimes) add(d time.Duration) { s.mu.Lock(); s.sum += d; s.mu.Unlock() }
func (s *serverTimes) reset()              { s.mu.Lock(); s.sum = 0; s.mu.Unlock() }
func (s *serverTimes) total() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sum
}

// countRequests counts the token requests of 200 sequential calls of cached
// after a first one (want 0), then of 32 concurrent calls of cached with
// coldEnv, whose cache is empty (want exactly 1, and every call succeeds). It
// prints both counts and returns what was wrong.
func countRequests(idp *authtest.Handler, store string, cached row, coldEnv []string) []string {
	var problems []string
	if res := call(cached, false); res.err != nil {
		fmt.Fprintf(os.Stderr, "cached call (%s) failed: %v: %s\n", store, res.err, res.stderr)
		problems = append(problems, fmt.Sprintf("%s: first cached call failed", store))
	}
	idp.ResetRequests()
	seqFailed := 0
	for range 200 {
		if res := call(cached, false); res.err != nil {
			seqFailed++
			fmt.Fprintf(os.Stderr, "cached call (%s) failed: %v: %s\n", store, res.err, res.stderr)
		}
	}
	n := idp.Requests()
	fmt.Printf("- Token requests by 200 sequential cached calls (%s): %d (want 0).\n", store, n)
	if n != 0 {
		problems = append(problems, fmt.Sprintf("%s: %d token requests by 200 sequential cached calls, want 0", store, n))
	}
	if seqFailed > 0 {
		problems = append(problems, fmt.Sprintf("%s: %d of 200 sequential cached calls failed", store, seqFailed))
	}

	cold := cached
	cold.env = coldEnv
	idp.ResetRequests()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			if res := call(cold, false); res.err != nil {
				errs <- fmt.Errorf("%v: %s", res.err, res.stderr)
			}
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		failed++
		fmt.Fprintf(os.Stderr, "concurrent call (%s) failed: %v\n", store, err)
	}
	n = idp.Requests()
	fmt.Printf("- Token requests by 32 concurrent cold calls, separate processes (%s): %d (want 1); failed calls: %d.\n", store, n, failed)
	if n != 1 {
		problems = append(problems, fmt.Sprintf("%s: %d token requests by 32 concurrent cold calls, want 1", store, n))
	}
	if failed > 0 {
		problems = append(problems, fmt.Sprintf("%s: %d of 32 concurrent cold calls failed", store, failed))
	}
	return problems
}

// benchPlugin launches the binary as a go-plugin token provider, as a host
// does (AutoMTLS on), and times warm GetToken round trips.
func benchPlugin(helper string, env []string, n int) error {
	tp, closePlugin, err := plugin.Launch(plugin.LaunchConfig{
		Path:   helper,
		Args:   []string{"plugin", "--cache", "file"},
		Env:    env,
		Logger: hclog.NewNullLogger(),
	})
	if err != nil {
		return err
	}
	defer closePlugin()
	ctx := context.Background()
	if _, err := tp.GetToken(ctx, "", false); err != nil {
		return err
	}
	rts := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if _, err := tp.GetToken(ctx, "", false); err != nil {
			return err
		}
		rts = append(rts, time.Since(start))
	}
	rss := "an unknown"
	if p, ok := tp.(interface{ Pid() int }); ok {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid())); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				var kib int64
				if _, err := fmt.Sscanf(l, "VmHWM: %d kB", &kib); err == nil {
					rss = fmt.Sprintf("%.1f MiB", float64(kib)/1024)
				}
			}
		}
	}
	fmt.Printf("- The go-plugin token provider: a warm `GetToken` round trip (cached, file store), %d calls over one AutoMTLS connection: median %s, p95 %s; the plugin process peaks at %s of RSS.\n",
		n, fmtDur(percentile(rts, 0.5)), fmtDur(percentile(rts, 0.95)), rss)
	return nil
}

// beyondRows measures, printing each, what is not a row: the go-plugin
// token provider, a crowd during an outage and the Vault engine's reads.
// It returns what was wrong.
func (b *bench) beyondRows() ([]string, error) {
	if err := benchPlugin(filepath.Join(b.cfg.bin, "dt-credential-helper"), b.ourEnv, b.cfg.runs*10); err != nil {
		return nil, fmt.Errorf("plugin: %w", err)
	}
	var problems []string
	if b.cfg.crowd > 0 {
		problems = append(problems, b.out.crowd(b.cfg.bin, 32, b.cfg.crowd)...)
	}
	if b.cfg.bao == "" {
		fmt.Println("\n- The Vault engine's reads: not measured here (no OpenBao server: set DT_TEST_BAO to a bao binary, or build one with ../shared/tools/openbao/build.sh).")
		return problems, nil
	}
	more, err := benchEngine(b.cfg.bao, filepath.Join(b.cfg.bin, "vault-plugin-secrets-dt"), b.tmp, b.handler, b.tokenURL, b.acct, b.cfg.runs*5)
	if err != nil {
		return nil, fmt.Errorf("the Vault engine: %w", err)
	}
	return append(problems, more...), nil
}

// countStores counts the token requests in every store this build has:
// 200 sequential cached calls, then 32 concurrent cold ones. Everything is
// printed before a wrong count fails the run.
func (b *bench) countStores(rows []row) []string {
	fmt.Println()
	var problems []string
	for _, store := range []string{"file", "keyring", "kernel"} {
		i := slices.IndexFunc(rows, func(r row) bool { return r.id == store })
		if i < 0 || rows[i].skipped != "" {
			continue
		}
		// A cold call needs an entry no store holds yet: the entry's key is
		// a hash of (endpoint, key id, email), so a new account makes one.
		// Its lock files go to a fresh cache directory too.
		cold := authtest.Account{KeyID: "bench-cold-" + store + "-" + b.id, Email: "bench-cold-" + b.id + "@project.serviceaccount.d21s.com", Secret: "bench-cold-secret"}
		b.handler.AddAccount(cold)
		coldEnv := accountEnv(b.ourEnv, cold, filepath.Join(b.tmp, "cold-cache-"+store))
		problems = append(problems, countRequests(b.handler, store+" store", rows[i], coldEnv)...)
	}
	return problems
}
