//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
)

// The Vault engine's reads: an OpenBao dev server with the engine built
// from this module (vault-plugin-secrets-dt), its token reads timed next
// to reads of a kv-v2 secret of the same server, in the same run, over the
// HTTP API as any Vault client makes them.

const (
	baoRoot      = "root" // the dev server's root token
	enginePlugin = "vault-plugin-secrets-dt"
	engineMount  = "dt"
	// engineWorkers is the concurrent readers of the parallel rows.
	engineWorkers = 50
	// engineRound is how long each parallel round reads; each path gets two
	// rounds, interleaved with the other's.
	engineRound = 3 * time.Second
)

// bao is a running OpenBao dev server.
type bao struct {
	addr   string
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
	client *http.Client
}

// startBao starts a dev server whose plugin directory holds the engine
// binary engine, registers and mounts it at dt/, allows the emulator's
// plain-http loopback endpoint, and waits until it answers.
func startBao(baoBin, engine, tmp string) (*bao, error) {
	dir, err := os.MkdirTemp(tmp, "openbao-")
	if err != nil {
		return nil, err
	}
	plugins := filepath.Join(dir, "plugins")
	if err := os.Mkdir(plugins, 0o700); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(engine)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(plugins, enginePlugin), data, 0o700); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	b := &bao{addr: "http://127.0.0.1:" + port, log: filepath.Join(dir, "bao.log"), exited: make(chan struct{}),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * engineWorkers}}}
	logf, err := os.Create(b.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	b.cmd = exec.Command(baoBin, "server", "-dev", "-dev-root-token-id="+baoRoot, "-dev-listen-address=127.0.0.1:"+port,
		"-dev-plugin-dir="+plugins)
	b.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	b.cmd.Stdout, b.cmd.Stderr = logf, logf
	if err := b.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = b.cmd.Wait(); close(b.exited) }()
	if err := b.waitReady(); err != nil {
		b.stop()
		return nil, err
	}
	for _, req := range []struct {
		path string
		body any
	}{
		{"sys/plugins/catalog/secret/" + enginePlugin, map[string]any{"sha256": hex.EncodeToString(sum[:]), "command": enginePlugin}},
		{"sys/mounts/" + engineMount, map[string]any{"type": enginePlugin}},
		{engineMount + "/config", map[string]any{"allow_loopback_http": true}},
	} {
		if err := b.write(req.path, req.body); err != nil {
			b.stop()
			return nil, err
		}
	}
	return b, nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

func (b *bao) waitReady() error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-b.exited:
			return fmt.Errorf("the OpenBao server exited; its log is %s", b.log)
		default:
		}
		if resp, err := b.client.Get(b.addr + "/v1/sys/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the OpenBao server did not answer within a minute; its log is %s", b.log)
}

func (b *bao) stop() {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
}

// write makes a write request of body (JSON) to path.
func (b *bao) write(path string, body any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, b.addr+"/v1/"+path, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", baoRoot)
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("writing %s: HTTP %d: %s", path, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

// read reads path and says how long it took; a read that is not a 200 is
// an error.
func (b *bao) read(path string) (time.Duration, error) {
	req, err := http.NewRequest(http.MethodGet, b.addr+"/v1/"+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-Vault-Token", baoRoot)
	start := time.Now()
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("reading %s: HTTP %d", path, resp.StatusCode)
	}
	return took, err
}

// readStats is what a round of reads of one path measured.
type readStats struct {
	reads   int
	elapsed time.Duration
	lat     []time.Duration
}

func (s *readStats) add(o readStats) {
	s.reads += o.reads
	s.elapsed += o.elapsed
	s.lat = append(s.lat, o.lat...)
}

func (s readStats) perSecond() float64 { return float64(s.reads) / s.elapsed.Seconds() }

// parallel reads path with workers readers for d and returns what they
// measured.
func (b *bao) parallel(path string, workers int, d time.Duration) (readStats, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var stats readStats
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			var lat []time.Duration
			var err error
			for ctx.Err() == nil {
				var took time.Duration
				if took, err = b.read(path); err != nil {
					break
				}
				lat = append(lat, took)
			}
			mu.Lock()
			defer mu.Unlock()
			stats.lat = append(stats.lat, lat...)
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait()
	stats.elapsed, stats.reads = time.Since(start), len(stats.lat)
	return stats, firstErr
}

// benchEngine measures the engine's token reads beside kv-v2 reads of the
// same server: n sequential reads of each, alternating, then engineWorkers
// concurrent readers of each for two interleaved rounds; then 200
// concurrent cold reads of a new account. The emulator, handler, answers
// the engine's token requests. It prints a table and returns what was
// wrong.
func benchEngine(baoBin, engine, tmp string, handler *authtest.Handler, tokenURL string, acct authtest.Account, n int) ([]string, error) {
	b, err := startBao(baoBin, engine, tmp)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	account := map[string]any{"key_id": acct.KeyID, "email": acct.Email, "secret": acct.Secret, "token_endpoint": tokenURL}
	if err := b.write(engineMount+"/accounts/bench", account); err != nil {
		return nil, err
	}
	// The dev server mounts kv-v2 at secret/.
	if err := b.write("secret/data/bench", map[string]any{"data": map[string]any{"value": "bench-kv-value"}}); err != nil {
		return nil, err
	}
	paths := []string{"secret/data/bench", engineMount + "/token/bench"}
	for _, p := range paths { // warm: the token fetched and cached once
		if _, err := b.read(p); err != nil {
			return nil, err
		}
	}
	before := handler.Requests()
	seq := make([]readStats, len(paths))
	for range n {
		for i, p := range paths {
			took, err := b.read(p)
			if err != nil {
				return nil, err
			}
			seq[i].add(readStats{reads: 1, elapsed: took, lat: []time.Duration{took}})
		}
	}
	par := make([]readStats, len(paths))
	for range 2 {
		for i, p := range paths {
			s, err := b.parallel(p, engineWorkers, engineRound)
			if err != nil {
				return nil, err
			}
			par[i].add(s)
		}
	}
	timedRequests := handler.Requests() - before
	printEngine(paths, seq, par)

	var problems []string
	fmt.Printf("- DT token requests during the timed reads of `%s/token/bench`: %d (want 0: the token was cached by the first read).\n", engineMount, timedRequests)
	if timedRequests != 0 {
		problems = append(problems, fmt.Sprintf("the engine's timed reads made %d DT token requests, want 0", timedRequests))
	}
	cold, err := b.coldReads(handler, account, 200)
	if err != nil {
		return problems, err
	}
	fmt.Printf("- 200 concurrent cold reads of a new account's `%s/token/<name>`: %d DT token request(s) (want 1).\n", engineMount, cold)
	if cold != 1 {
		problems = append(problems, fmt.Sprintf("200 concurrent cold engine reads made %d DT token requests, want 1", cold))
	}
	return problems, nil
}

// coldReads writes a new account and reads its token with readers at once,
// returning the DT token requests they made.
func (b *bao) coldReads(handler *authtest.Handler, account map[string]any, readers int) (int, error) {
	if err := b.write(engineMount+"/accounts/cold", account); err != nil {
		return 0, err
	}
	before := handler.Requests()
	errs := make([]error, readers)
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() { _, errs[i] = b.read(engineMount + "/token/cold") })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return handler.Requests() - before, nil
}

func printEngine(paths []string, seq, par []readStats) {
	fmt.Println("\nThe Vault engine's token reads beside kv-v2 reads of the same OpenBao dev server, over its HTTP API, in the same run:")
	fmt.Println()
	fmt.Println("| read | readers | reads/s | p50 | p99 | reads/s ÷ kv-v2's |")
	fmt.Println("|---|--:|--:|--:|--:|--:|")
	for _, set := range []struct {
		stats   []readStats
		readers int
	}{{seq, 1}, {par, engineWorkers}} {
		kv := set.stats[0].perSecond()
		for i, p := range paths {
			s := set.stats[i]
			lat := slices.Clone(s.lat)
			fmt.Printf("| `%s` | %d | %.0f | %s | %s | %.2f× |\n", p, set.readers, s.perSecond(),
				fmtDur(percentile(lat, 0.5)), fmtDur(percentile(lat, 0.99)), s.perSecond()/kv)
		}
	}
	fmt.Println()
}
