//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil/baotest"
)

// nodeClient is a Vault client of one node, as the cluster's root token,
// that neither retries nor follows a standby's redirect by itself.
func nodeClient(t *testing.T, c *baotest.Cluster, n *baotest.Node) *api.Client {
	t.Helper()
	conf := api.DefaultConfig()
	conf.Address = n.Addr
	conf.MaxRetries = 0
	client, err := api.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	client.SetToken(c.RootToken)
	return client
}

// readToken reads dt/token/<name> through n.
func readToken(t *testing.T, c *baotest.Cluster, n *baotest.Node, name string) (string, error) {
	t.Helper()
	s, err := nodeClient(t, c, n).Logical().Read("dt/token/" + name)
	if err != nil {
		return "", err
	}
	if s == nil {
		return "", fmt.Errorf("nothing at dt/token/%s", name)
	}
	tok, _ := s.Data["access_token"].(string)
	return tok, nil
}

// readEverywhere reads dt/token/<name> through every running node, rounds
// times each, all at once, and returns the tokens read.
func readEverywhere(t *testing.T, c *baotest.Cluster, name string, rounds int) []string {
	t.Helper()
	var mu sync.Mutex
	var toks []string
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		for range rounds {
			wg.Go(func() {
				tok, err := readToken(t, c, n, name)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("read dt/token/%s through %s: %v", name, n.Name, err)
					return
				}
				toks = append(toks, tok)
			})
		}
	}
	wg.Wait()
	return toks
}

// waitSeen waits until every running node has account name in its storage,
// so that a count of DT requests measures the engine's sharing and not
// Raft's replication lag (which the first subtest is about).
func waitSeen(t *testing.T, c *baotest.Cluster, name string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range c.Nodes {
		for n.Running() {
			if s, err := nodeClient(t, c, n).Logical().Read("dt/accounts/" + name); err == nil && s != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s does not see account %s after 20 s", n.Name, name)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func distinct(toks []string) int {
	seen := map[string]bool{}
	for _, tok := range toks {
		seen[tok] = true
	}
	return len(seen)
}

// helperBinaries builds dt-credential-helper and its sibling program, which
// runs its Vault reads, into one directory, as installed.
func helperBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", dir+string(filepath.Separator), "../dt-credential-helper", "../dt-credential-helper-plugin")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the helper: %v\n%s", err, out)
	}
	return filepath.Join(dir, "dt-credential-helper")
}

// machineEnv is a machine's environment holding only a Vault identity: no
// DT secret, none of the test's own DT_, VAULT_ or proxy settings, private
// HOME and cache directories.
func machineEnv(t *testing.T, vaultAddr, vaultToken, path string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "DT_") || strings.HasPrefix(k, "VAULT_") || strings.HasPrefix(k, "BAO_") ||
			strings.HasPrefix(k, "XDG_") || strings.HasPrefix(k, "DBUS_") || strings.Contains(strings.ToLower(k), "proxy") || k == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	home := privateDir(t)
	return append(env, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"DT_CACHE_DIR="+privateDir(t), "DT_TOKEN_CACHE=file",
		"VAULT_ADDR="+vaultAddr, "VAULT_TOKEN="+vaultToken, "DT_VAULT_PATH="+path)
}

// runHelper runs `dt-credential-helper token -o token` in env.
func runHelper(ctx context.Context, helper string, env []string) (string, error) {
	cmd := exec.CommandContext(ctx, helper, "token", "-o", "token")
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// TestEngineOnRaftCluster runs the engine on a three-node OpenBao cluster
// with integrated storage, against the emulator: the cluster behaves as one
// engine (one DT request per token lifetime per account whichever nodes are
// read, failover included; an account just written is readable through
// every node), and the helper, pointed at a standby, rides out the loss of
// the active node and a sealed node.
func TestEngineOnRaftCluster(t *testing.T) {
	c := baotest.StartCluster(t)
	dt := authtest.NewServer(authtest.Account{KeyID: keyID, Email: email, Secret: secret})
	t.Cleanup(dt.Close)
	endpoint := dt.URL + authtest.TokenPath
	active := c.Active(t)
	write := func(n *baotest.Node, name string) {
		t.Helper()
		n.CLI(t, secret, "write", "dt/accounts/"+name, "key_id="+keyID, "email="+email, "token_endpoint="+endpoint, "secret=-")
	}

	t.Run("an account written through the active node is readable at once through a standby", func(t *testing.T) {
		standbys := c.Standbys(active)
		for i := range 6 {
			name := fmt.Sprintf("fresh-%d", i)
			write(active, name)
			if _, err := readToken(t, c, standbys[i%len(standbys)], name); err != nil {
				t.Errorf("read of %s through %s just after its write: %v", name, standbys[i%len(standbys)].Name, err)
			}
		}
	})

	write(active, "prod")
	waitSeen(t, c, "prod")
	dt.ResetRequests()
	var prod string
	t.Run("one DT request per token lifetime, read through every node", func(t *testing.T) {
		toks := readEverywhere(t, c, "prod", 10)
		toks = append(toks, readEverywhere(t, c, "prod", 1)...)
		t.Logf("3 nodes, %d reads: %d DT requests, %d distinct tokens", len(toks), dt.Requests(), distinct(toks))
		if n := dt.Requests(); n != 1 || distinct(toks) != 1 {
			t.Errorf("%d reads through 3 nodes made %d DT requests and got %d tokens, want 1 and 1", len(toks), n, distinct(toks))
		}
		if len(toks) > 0 {
			prod = toks[0]
		}
	})

	t.Run("the next lifetime: one more DT request for the whole cluster", func(t *testing.T) {
		// A 4 s token is due after 2 s (the buffer is at most half the
		// lifetime).
		dt.SetTokenTTL(4 * time.Second)
		defer dt.SetTokenTTL(authtest.DefaultTokenTTL)
		write(active, "short")
		waitSeen(t, c, "short")
		before := dt.Requests()
		first := readEverywhere(t, c, "short", 3)
		time.Sleep(2200 * time.Millisecond)
		second := readEverywhere(t, c, "short", 3)
		n := dt.Requests() - before
		t.Logf("3 nodes, two lifetimes: %d DT requests; tokens %d then %d distinct", n, distinct(first), distinct(second))
		if n != 2 || distinct(first) != 1 || distinct(second) != 1 || (len(first) > 0 && len(second) > 0 && first[0] == second[0]) {
			t.Errorf("two lifetimes read through 3 nodes: %d DT requests, %d and %d distinct tokens; want 2 requests, one new token per lifetime", n, distinct(first), distinct(second))
		}
	})

	helper := helperBinaries(t)
	standby := c.Standbys(active)[0]
	env := machineEnv(t, standby.Addr, c.RootToken, "dt/token/prod")
	ctx := context.Background()
	if tok, err := runHelper(ctx, helper, env); err != nil || tok != prod {
		t.Fatalf("the helper through standby %s: %v (the cluster's token: %v)", standby.Name, err, tok == prod)
	}

	t.Run("the active node killed: cached calls never fail, a new leader serves the next miss, no new DT request", func(t *testing.T) {
		requests := dt.Requests()
		killed := active
		calls, failures := hammer(t, helper, env, func() {
			killed.Kill(t)
			start := time.Now()
			active = c.Active(t)
			t.Logf("%s killed; %s active %v later", killed.Name, active.Name, time.Since(start).Round(100*time.Millisecond))
		})
		t.Logf("%d cached calls of the helper during the failover, %d failed", calls, len(failures))
		if calls == 0 || len(failures) > 0 {
			t.Errorf("%d cached calls during the failover, %d failed: %v", calls, len(failures), failures)
		}
		miss := machineEnv(t, standby.Addr, c.RootToken, "dt/token/prod") // a new cache: a miss
		if tok, err := runHelper(ctx, helper, miss); err != nil || tok != prod {
			t.Errorf("a cache miss through %s after the failover: %v (the cluster's token: %v)", standby.Name, err, tok == prod)
		}
		toks := readEverywhere(t, c, "prod", 3)
		n := dt.Requests() - requests
		t.Logf("across the failover: %d new DT requests for prod; %d distinct tokens, the same as before: %v", n, distinct(toks), len(toks) > 0 && toks[0] == prod)
		if n != 0 || distinct(toks) != 1 || toks[0] != prod {
			t.Errorf("after the failover: %d new DT requests, %d distinct tokens, same as before: %v; want 0, 1, true", n, distinct(toks), len(toks) > 0 && toks[0] == prod)
		}
		// An account written through the new leader, read at once
		// through the helper's node.
		write(active, "after")
		if _, err := runHelper(ctx, helper, machineEnv(t, standby.Addr, c.RootToken, "dt/token/after")); err != nil {
			t.Errorf("the helper's read through %s of an account written through %s: %v", standby.Name, active.Name, err)
		}
		if n := dt.Requests() - requests; n != 1 {
			t.Errorf("the new account's first token: %d DT requests, want 1", n)
		}
		t.Run("restarted, it rejoins and serves the stored token", func(t *testing.T) {
			requests := dt.Requests()
			killed.Restart(t)
			toks := readEverywhere(t, c, "prod", 3)
			if n := dt.Requests() - requests; n != 0 || distinct(toks) != 1 || toks[0] != prod {
				t.Errorf("after the restart: %d new DT requests, %d distinct tokens, same as before: %v", n, distinct(toks), len(toks) > 0 && toks[0] == prod)
			}
		})
	})

	t.Run("the helper's node sealed: cached calls still served; unsealed, it serves the next miss", func(t *testing.T) {
		calls, failures := hammer(t, helper, env, func() { standby.Seal(t) })
		t.Logf("%d cached calls of the helper while %s was sealed, %d failed", calls, standby.Name, len(failures))
		if calls == 0 || len(failures) > 0 {
			t.Errorf("%d cached calls while %s was sealed, %d failed: %v", calls, standby.Name, len(failures), failures)
		}
		standby.Unseal(t)
		if tok, err := runHelper(ctx, helper, machineEnv(t, standby.Addr, c.RootToken, "dt/token/prod")); err != nil || tok != prod {
			t.Errorf("a cache miss through the unsealed %s: %v (the cluster's token: %v)", standby.Name, err, tok == prod)
		}
	})

	t.Run("an upgrade (new binary on every node, registered by checksum and version, tuned, reloaded, standbys resealed) costs no DT request", func(t *testing.T) {
		requests := dt.Requests()
		sum := c.InstallEngine(t, baotest.PluginName+"-v2")
		active = c.Active(t)
		active.CLI(t, "", "plugin", "register", "-sha256="+sum, "-version=v2.0.0", "-command="+baotest.PluginName+"-v2", "secret", baotest.PluginName)
		active.CLI(t, "", "secrets", "tune", "-plugin-version=v2.0.0", "dt/")
		active.CLI(t, "", "plugin", "reload", "-plugin="+baotest.PluginName)
		// OpenBao 2.6.2's standbys do not reload a mount whose plugin
		// version was tuned (vault/mount.go compares only the KV
		// "version" option): each runs the old binary until it loads
		// the mount table again, at an unseal or a restart.
		for _, n := range c.Standbys(active) {
			n.Seal(t)
			n.Unseal(t)
		}
		for _, n := range c.Nodes {
			if out := n.CLI(t, "", "secrets", "list", "-detailed", "-format=json"); !strings.Contains(out, `"running_plugin_version": "v2.0.0"`) {
				t.Errorf("%s does not run v2.0.0 at dt/:\n%s", n.Name, out)
			}
		}
		toks := readEverywhere(t, c, "prod", 3)
		if n := dt.Requests() - requests; n != 0 || distinct(toks) != 1 || toks[0] != prod {
			t.Errorf("after the upgrade: %d new DT requests, %d distinct tokens, same as before: %v", n, distinct(toks), len(toks) > 0 && toks[0] == prod)
		}
	})
	t.Logf("DT requests in all: %d", dt.Requests())
}

// hammer runs the helper's cached call over and over while during runs,
// and a little after, returning how many calls were made and the failures.
func hammer(t *testing.T, helper string, env []string, during func()) (int, []string) {
	t.Helper()
	var calls atomic.Int32
	var mu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			_, err := runHelper(ctx, helper, env)
			cancel()
			time.Sleep(10 * time.Millisecond) // a busy client, not a flood
			calls.Add(1)
			if err != nil {
				mu.Lock()
				failures = append(failures, err.Error())
				mu.Unlock()
			}
		}
	}()
	during()
	time.Sleep(500 * time.Millisecond)
	close(stop)
	<-done
	return int(calls.Load()), failures
}
