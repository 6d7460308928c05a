//go:build linux

// Command bench measures dt-credential-helper as its users run it: one
// process per call. scripts/bench.sh builds the binaries and runs it.
//
// Every mode runs the same number of times, interleaved, so the machine's
// noise falls on all of them alike; results are ratios to a hello-world
// process measured in the same run.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
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

type mode struct {
	name string
	args []string
	env  []string
}

type sample struct {
	wall time.Duration
}

func main() {
	bin := flag.String("bin", "", "directory with dt-credential-helper and hello")
	runs := flag.Int("runs", 200, "calls per mode")
	keyring := flag.Bool("keyring", os.Getenv("DT_TEST_SECRET_SERVICE") == "1", "include the keyring mode (needs a Secret Service)")
	flag.Parse()
	if err := run(*bin, *runs, *keyring); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(bin string, runs int, withKeyring bool) error {
	acct := authtest.Account{KeyID: "bench-key", Email: "bench@project.serviceaccount.d21s.com", Secret: "bench-secret"}
	// The emulator behind a timer, so a cold call's own overhead can be told
	// from the time the identity service takes to answer.
	handler := authtest.NewHandler(authtest.Options{Accounts: []authtest.Account{acct}})
	defer handler.Close()
	var served serverTimes
	idpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		handler.ServeHTTP(w, r)
		served.add(time.Since(start))
	}))
	defer idpSrv.Close()
	idp := struct {
		*authtest.Handler
		tokenURL string
	}{handler, idpSrv.URL + authtest.TokenPath}
	tmp, err := os.MkdirTemp("", "dt-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	helper := filepath.Join(bin, "dt-credential-helper")
	lean := filepath.Join(bin, "noplugin", "dt-credential-helper")
	base := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + tmp,
		"XDG_CONFIG_HOME=" + filepath.Join(tmp, "config"),
		"DT_SERVICE_ACCOUNT_KEY_ID=" + acct.KeyID,
		"DT_SERVICE_ACCOUNT_EMAIL=" + acct.Email,
		"DT_SERVICE_ACCOUNT_SECRET=" + acct.Secret,
		"DT_TOKEN_ENDPOINT=" + idp.tokenURL,
		"DT_CACHE_DIR=" + filepath.Join(tmp, "cache"),
	}
	if addr := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); addr != "" {
		base = append(base, "DBUS_SESSION_BUS_ADDRESS="+addr)
	}
	fileCached := mode{name: "token, cached, file store", args: []string{helper, "token", "--cache", "file"}, env: base}
	keyringCached := mode{name: "token, cached, keyring store", args: []string{helper, "token", "--cache", "keyring"}, env: base}
	modes := []mode{
		{name: "hello-world (floor)", args: []string{filepath.Join(bin, "hello")}, env: base},
		fileCached,
	}
	if withKeyring {
		modes = append(modes, keyringCached)
		// The default: the keyring, with the hung-keyring check in front.
		modes = append(modes, mode{name: "token, cached, auto (default)", args: []string{helper, "token"}, env: base})
	}
	modes = append(modes, mode{name: "  same, -tags noplugin, file", args: []string{lean, "token", "--cache", "file"}, env: base})
	if withKeyring {
		modes = append(modes, mode{name: "  same, -tags noplugin, keyring", args: []string{lean, "token", "--cache", "keyring"}, env: base})
	}
	modes = append(modes, mode{name: "token, uncached (--cache none)", args: []string{helper, "token", "--cache", "none"}, env: base}) // one token request each

	// Warm the caches: one call per mode.
	for _, m := range modes {
		if _, out, err := call(m); err != nil {
			return fmt.Errorf("%s: %v: %s", m.name, err, out)
		}
	}
	samples := make([][]sample, len(modes))
	for i := 0; i < runs; i++ {
		for j, m := range modes {
			s, out, err := call(m)
			if err != nil {
				return fmt.Errorf("%s: %v: %s", m.name, err, out)
			}
			samples[j] = append(samples[j], s)
		}
	}

	// Peak RSS: the child's own, through /usr/bin/time. A child forked by
	// this (larger) Go process would report this process's RSS as its peak.
	rss := make([]int64, len(modes))
	for j, m := range modes {
		for i := 0; i < 10; i++ {
			r, err := peakRSS(m)
			if err != nil {
				return fmt.Errorf("%s: peak RSS: %v", m.name, err)
			}
			rss[j] = max(rss[j], r)
		}
	}

	fmt.Printf("%d calls per mode, interleaved; wall time of fork+exec+wait of one process; × floor: median over the floor's median, p95 × floor: p95 over the floor's p95\n\n", runs)
	fmt.Printf("| %-32s | %10s | %10s | %8s | %12s | %13s |\n", "mode", "median", "p95", "× floor", "p95 × floor", "peak RSS")
	fmt.Printf("|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 34), strings.Repeat("-", 12), strings.Repeat("-", 12), strings.Repeat("-", 10), strings.Repeat("-", 14), strings.Repeat("-", 15))
	floor, floor95 := percentile(samples[0], 0.5), percentile(samples[0], 0.95)
	for j, m := range modes {
		med, p95 := percentile(samples[j], 0.5), percentile(samples[j], 0.95)
		fmt.Printf("| %-32s | %10s | %10s | %7.2f× | %11.2f× | %9.1f MiB |\n", m.name, fmtDur(med), fmtDur(p95),
			float64(med)/float64(floor), float64(p95)/float64(floor95), float64(rss[j])/1024)
	}

	// A cold call's own overhead: its wall time minus the time the emulator
	// took to answer it, call by call.
	uncached := modes[len(modes)-1]
	var overhead []sample
	var serverSide []sample
	for i := 0; i < min(runs, 100); i++ {
		served.reset()
		s, out, err := call(uncached)
		if err != nil {
			return fmt.Errorf("uncached call: %v: %s", err, out)
		}
		st := served.total()
		overhead = append(overhead, sample{wall: s.wall - st})
		serverSide = append(serverSide, sample{wall: st})
	}
	fmt.Printf("\nuncached call's own overhead (wall time minus the emulator's %s median response time): median %s, p95 %s, %.2f× floor\n",
		fmtDur(percentile(serverSide, 0.5)), fmtDur(percentile(overhead, 0.5)), fmtDur(percentile(overhead, 0.95)), float64(percentile(overhead, 0.5))/float64(floor))

	if err := benchPlugin(helper, base, runs*10); err != nil {
		return fmt.Errorf("plugin: %w", err)
	}

	// Token requests: 200 sequential cached calls, then 32 concurrent cold
	// ones, with the file store and, when there is a Secret Service, the
	// keyring store. Everything is printed before a wrong count fails the run.
	fmt.Println()
	var problems []string
	problems = append(problems, countRequests(idp.Handler, "file store", fileCached,
		append(slices.Clone(base), "DT_CACHE_DIR="+filepath.Join(tmp, "cold-cache-file")))...)
	if withKeyring {
		// A cold keyring call needs an entry the keyring does not hold yet: the
		// entry's key is a hash of (endpoint, key id, email), so a second
		// account makes one. Its lock files go to a fresh cache directory too.
		coldAcct := authtest.Account{KeyID: "bench-key-cold", Email: "bench-cold@project.serviceaccount.d21s.com", Secret: "bench-cold-secret"}
		idp.AddAccount(coldAcct)
		coldEnv := append(slices.Clone(base),
			"DT_SERVICE_ACCOUNT_KEY_ID="+coldAcct.KeyID,
			"DT_SERVICE_ACCOUNT_EMAIL="+coldAcct.Email,
			"DT_SERVICE_ACCOUNT_SECRET="+coldAcct.Secret,
			"DT_CACHE_DIR="+filepath.Join(tmp, "cold-cache-keyring"))
		problems = append(problems, countRequests(idp.Handler, "keyring store", keyringCached, coldEnv)...)
	}
	if len(problems) > 0 {
		return fmt.Errorf("wrong token request counts: %s", strings.Join(problems, "; "))
	}
	return nil
}

// countRequests counts the token requests of 200 sequential calls of cached
// after a first one (want 0), then of 32 concurrent calls of cached with
// coldEnv, whose cache is empty (want exactly 1, and every call succeeds). It
// prints both counts and returns what was wrong.
func countRequests(idp *authtest.Handler, store string, cached mode, coldEnv []string) []string {
	var problems []string
	if _, out, err := call(cached); err != nil {
		fmt.Fprintf(os.Stderr, "cached call (%s) failed: %v: %s\n", store, err, out)
		problems = append(problems, fmt.Sprintf("%s: first cached call failed", store))
	}
	idp.ResetRequests()
	seqFailed := 0
	for i := 0; i < 200; i++ {
		if _, out, err := call(cached); err != nil {
			seqFailed++
			fmt.Fprintf(os.Stderr, "cached call (%s) failed: %v: %s\n", store, err, out)
		}
	}
	n := idp.Requests()
	fmt.Printf("token requests by 200 sequential cached calls (%s): %d (want 0)\n", store, n)
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
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, out, err := call(cold); err != nil {
				errs <- fmt.Errorf("%v: %s", err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		failed++
		fmt.Fprintf(os.Stderr, "concurrent call (%s) failed: %v\n", store, err)
	}
	n = idp.Requests()
	fmt.Printf("token requests by 32 concurrent cold calls (%s): %d (want 1), failed calls: %d\n", store, n, failed)
	if n != 1 {
		problems = append(problems, fmt.Sprintf("%s: %d token requests by 32 concurrent cold calls, want 1", store, n))
	}
	if failed > 0 {
		problems = append(problems, fmt.Sprintf("%s: %d of 32 concurrent cold calls failed", store, failed))
	}
	return problems
}

func call(m mode) (sample, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, m.args[0], m.args[1:]...)
	cmd.Env = m.env
	var out bytes.Buffer
	cmd.Stderr = &out
	start := time.Now()
	err := cmd.Run()
	return sample{wall: time.Since(start)}, out.Bytes(), err
}

// peakRSS runs m under /usr/bin/time and returns the child's peak RSS in KiB.
func peakRSS(m mode) (int64, error) {
	f, err := os.CreateTemp("", "dt-bench-rss-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	f.Close()
	cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", f.Name()}, m.args...)...)
	cmd.Env = m.env
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%v: %s", err, out)
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return 0, err
	}
	var kib int64
	_, err = fmt.Sscan(strings.TrimSpace(string(b)), &kib)
	return kib, err
}

func percentile(s []sample, p float64) time.Duration {
	d := make([]time.Duration, len(s))
	for i, x := range s {
		d[i] = x.wall
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(p*float64(len(d))))]
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
	rts := make([]sample, 0, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		if _, err := tp.GetToken(ctx, "", false); err != nil {
			return err
		}
		rts = append(rts, sample{wall: time.Since(start)})
	}
	var rss string
	if p, ok := tp.(interface{ Pid() int }); ok {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid())); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "VmHWM:") {
					rss = strings.Join(strings.Fields(strings.TrimPrefix(l, "VmHWM:")), " ")
				}
			}
		}
	}
	fmt.Printf("plugin GetToken round trip, warm (cached, file store), %d calls over one AutoMTLS connection: median %s, p95 %s; plugin process peak RSS %s\n",
		n, fmtDur(percentile(rts, 0.5)), fmtDur(percentile(rts, 0.95)), rss)
	return nil
}
