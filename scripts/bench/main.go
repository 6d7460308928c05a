//go:build linux

// Command bench measures dt-credential-helper as its users run it, one
// process per call, next to its peers answering from their own caches, all
// in the same run. scripts/bench.sh builds the binaries and runs it.
//
// Every row runs the same number of times, interleaved, so the machine's
// noise falls on all of them alike; results are ratios to a hello-world
// process measured in the same run. The output is Markdown: scripts/bench.sh
// puts it into docs/performance.md.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
)

func main() {
	bin := flag.String("bin", "", "directory with dt-credential-helper, dt-credential-helper-plugin, hello, hello-stdin and gokeyring")
	peersDir := flag.String("peers", "", "directory with the peers scripts/bench/peers/build.sh built")
	runs := flag.Int("runs", 200, "calls per row")
	withKeyring := flag.Bool("keyring", os.Getenv("DT_TEST_SECRET_SERVICE") == "1", "include the rows that need a Secret Service")
	crowd := flag.Duration("crowd", time.Minute, "how long 32 processes call once a second during an outage (0: not at all)")
	bao := flag.String("bao", os.Getenv("DT_TEST_BAO"), "the OpenBao server binary, for the engine's reads (none: not measured)")
	flag.Parse()
	if err := run(config{bin: *bin, peersDir: *peersDir, runs: *runs, withKeyring: *withKeyring, crowd: *crowd, bao: *bao}); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// randomID makes names unique to this run: the kernel keyring outlives it,
// and a cold call needs an entry no earlier run left.
func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// config is what the command line asks for.
type config struct {
	bin, peersDir string
	runs          int
	withKeyring   bool
	crowd         time.Duration
	bao           string
}

// run sets the rows up, times them, then measures what is not a row
// (printing each part as it is measured, in the order of
// docs/performance.md) and fails when a count was wrong.
func run(cfg config) error {
	b, err := newBench(cfg)
	if err != nil {
		return err
	}
	defer b.close()
	rows, err := b.rows()
	if err != nil {
		return err
	}
	active, err := checkAnswers(rows)
	if err != nil {
		return err
	}
	t, err := b.timeRows(rows, active)
	if err != nil {
		return err
	}

	fmt.Printf("%d calls per row, interleaved; the wall time of fork, exec and wait of one process. "+
		"× floor: the row's median over its floor's median; p95 × floor: the same for the 95th percentile.\n\n", cfg.runs)
	printTable(rows, t.samples, t.rss)
	problems := t.printChecks(cfg.runs)
	if err := b.printOverhead(rows, t.samples); err != nil {
		return err
	}
	more, err := b.beyondRows()
	if err != nil {
		return err
	}
	problems = append(problems, more...)
	problems = append(problems, b.countStores(rows)...)
	printSplit(t.median)
	printTargets(rows, t.samples, t.rss, t.median)

	if len(problems) > 0 {
		return fmt.Errorf("wrong counts: %s", strings.Join(problems, "; "))
	}
	return nil
}

// bench is what a run sets up, and closes at its end: the emulator our
// rows ask (behind a timer), a private home, our rows' environment, the
// outage, the fake OIDC issuer and the peers' caches.
type bench struct {
	cfg      config
	id       string
	acct     authtest.Account
	handler  *authtest.Handler
	served   serverTimes
	tokenURL string
	tmp      string
	base     []string // the environment every row starts from
	ourEnv   []string // base and our account, at the emulator
	out      *outage
	issuer   *issuer
	cleanups []func() // run last first by close
}

func newBench(cfg config) (*bench, error) {
	id := randomID()
	b := &bench{cfg: cfg, id: id,
		acct: authtest.Account{KeyID: "bench-key-" + id, Email: "bench-" + id + "@project.serviceaccount.d21s.com", Secret: "bench-secret"}}
	// The emulator behind a timer, so a cold call's own overhead can be told
	// from the time the identity service takes to answer.
	b.handler = authtest.NewHandler(authtest.Options{Accounts: []authtest.Account{b.acct}})
	b.cleanups = append(b.cleanups, b.handler.Close)
	idpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		b.handler.ServeHTTP(w, r)
		b.served.add(time.Since(start))
	}))
	b.cleanups = append(b.cleanups, idpSrv.Close)
	b.tokenURL = idpSrv.URL + authtest.TokenPath
	tmp, err := os.MkdirTemp("", "dt-bench-")
	if err != nil {
		b.close()
		return nil, err
	}
	b.tmp = tmp
	b.cleanups = append(b.cleanups, func() { _ = os.RemoveAll(tmp) })

	b.base = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + tmp,
		"XDG_CONFIG_HOME=" + filepath.Join(tmp, "config"),
	}
	if addr := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); addr != "" {
		b.base = append(b.base, "DBUS_SESSION_BUS_ADDRESS="+addr)
	}
	b.ourEnv = append(accountEnv(b.base, b.acct, filepath.Join(tmp, "cache")), "DT_TOKEN_ENDPOINT="+b.tokenURL)
	return b, nil
}

// accountEnv is env with account's credentials and a cache directory of
// its own: later values override env's (os/exec keeps the last value of
// a name).
func accountEnv(env []string, account authtest.Account, cacheDir string) []string {
	return append(slices.Clone(env),
		"DT_SERVICE_ACCOUNT_KEY_ID="+account.KeyID,
		"DT_SERVICE_ACCOUNT_EMAIL="+account.Email,
		"DT_SERVICE_ACCOUNT_SECRET="+account.Secret,
		"DT_CACHE_DIR="+cacheDir)
}

func (b *bench) close() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
}

// rows sets every row up, in the table's order: the floors, ours (each
// store filled by a first call), the outage's and the peers'.
func (b *bench) rows() ([]row, error) {
	bin := b.cfg.bin
	rows := []row{
		{id: "floor", name: "hello-world (floor)", args: []string{filepath.Join(bin, "hello")}, env: b.base, floor: floorPlain, want: "hello"},
		{id: "floor-stdin", name: "hello-world reading stdin (stdin floor)", args: []string{filepath.Join(bin, "hello-stdin")}, env: b.base,
			stdin: gitRequest, floor: floorStdin, want: "hello"},
	}
	for _, m := range ourModes() {
		r := ourRow(m, bin, b.ourEnv)
		if m.secret && !b.cfg.withKeyring {
			r.skipped = noSecretService
		}
		rows = append(rows, r)
	}
	b.out = newOutage(b.tmp, b.ourEnv, b.id)
	b.cleanups = append(b.cleanups, b.out.close)
	outageRows, err := b.out.rows(bin)
	if err != nil {
		return nil, fmt.Errorf("the outage rows: %w", err)
	}
	rows = append(rows, outageRows...)
	if err := fillOurs(rows); err != nil {
		return nil, err
	}

	b.issuer, err = newIssuer()
	if err != nil {
		return nil, fmt.Errorf("fake OIDC issuer: %w", err)
	}
	b.cleanups = append(b.cleanups, b.issuer.close)
	p := &peers{tmp: b.tmp, bin: bin, dir: b.cfg.peersDir, env: slices.Clone(b.base), withKeyring: b.cfg.withKeyring,
		issuer: b.issuer, secret: "bench-peer-secret-" + b.id}
	b.cleanups = append(b.cleanups, p.close)
	return append(rows, p.rows()...), nil
}

// fillOurs makes our rows' first calls: each fills its store, and a row's
// want is then the token that store holds. A failing optional row is
// skipped with the reason.
func fillOurs(rows []row) error {
	for i := range rows {
		r := &rows[i]
		if !r.ours || r.skipped != "" {
			continue
		}
		res := call(*r, true)
		if !r.ok(res) {
			if r.optional {
				r.skipped = "skipped: " + firstLine(res.stderr, res.err)
				continue
			}
			return fmt.Errorf("%s: %v: %s", r.name, res.err, res.stderr)
		}
		if r.id == "uncached" || r.fails {
			continue
		}
		tok := call(row{args: tokenArgs(*r), env: r.env}, true)
		if tok.err != nil || strings.TrimSpace(tok.stdout) == "" {
			return fmt.Errorf("%s: the token it serves (-o token): %v: %s", r.name, tok.err, tok.stderr)
		}
		r.want = strings.TrimSpace(tok.stdout)
	}
	return nil
}

// checkAnswers returns the rows to measure, the indexes of those not
// skipped, once each has answered with its cached secret: a row that
// answers something else measures nothing.
func checkAnswers(rows []row) ([]int, error) {
	var active []int
	for i, r := range rows {
		if r.skipped != "" {
			continue
		}
		res := call(r, true)
		if !r.ok(res) {
			return nil, fmt.Errorf("%s: %v: %s", r.name, res.err, res.stderr)
		}
		if r.want != "" && !strings.Contains(res.stdout, r.want) {
			return nil, fmt.Errorf("%s: its output does not hold the secret its cache was given", r.name)
		}
		if r.fails && !strings.Contains(res.stderr, outageStderr) {
			return nil, fmt.Errorf("%s: it did not fail at once inside the back-off: %s", r.name, res.stderr)
		}
		active = append(active, i)
	}
	return active, nil
}

// firstLine is the first line of a failed call's stderr, or its error.
func firstLine(stderr string, err error) string {
	if l, _, _ := strings.Cut(strings.TrimSpace(stderr), "\n"); l != "" {
		return l
	}
	if err != nil {
		return err.Error()
	}
	return "no output"
}
