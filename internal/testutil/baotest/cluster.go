//go:build unix

package baotest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Cluster is three OpenBao servers on loopback sharing integrated storage
// (Raft), initialised with one unseal key, with the DT engine registered
// (sha256 pinned) and enabled once at dt/, its binary in every node's
// plugin directory, as an operator runs it for high availability.
type Cluster struct {
	// Nodes are the servers, n1 to n3; n1 was the first active node.
	Nodes []*Node
	// RootToken is the root token the initialisation gave.
	RootToken string

	unsealKey string
	engine    string // the engine binary built for the cluster
}

// Node is one server of a Cluster. Its Server's CLI and Run act as the
// cluster's root token against this node.
type Node struct {
	*Server
	// Name is the node's Raft id, "n1" to "n3".
	Name string

	cluster *Cluster
	args    []string
	proc    *process
}

// clusterTimeout bounds each wait for the cluster (a node ready, a leader
// elected, the followers voting).
const clusterTimeout = 60 * time.Second

// StartCluster starts a three-node cluster and stops it when tb ends. The
// engine's dt/config allows the emulator's plain-http loopback endpoint.
// Raft runs with performance_multiplier = 1 (elections within a few
// seconds of a leader's loss, as on a fast network) and autopilot promotes
// followers to voters after 1 s rather than 10.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bao := Binary(tb)
	dir := tb.TempDir()
	engine := filepath.Join(dir, PluginName)
	buildEngine(tb, engine)
	sum, err := fileSHA256(engine)
	if err != nil {
		tb.Fatal(err)
	}
	c := &Cluster{engine: engine}
	tb.Cleanup(func() {
		if tb.Failed() {
			for _, n := range c.Nodes {
				tb.Logf("the end of %s's log:\n%s", n.Name, n.tail())
			}
		}
	})
	for i := 1; i <= 3; i++ {
		c.Nodes = append(c.Nodes, c.newNode(tb, bao, filepath.Join(dir, fmt.Sprintf("n%d", i)), fmt.Sprintf("n%d", i), engine))
	}
	for _, n := range c.Nodes {
		n.start(tb)
	}
	n1 := c.Nodes[0]
	c.initialise(tb, n1)
	n1.unseal(tb)
	n1.waitHealth(tb, func(h health) bool { return !h.Sealed && !h.Standby })
	n1.api(tb, "POST", "sys/storage/raft/autopilot/configuration", map[string]any{"server_stabilization_time": "1s"}, nil)
	for _, n := range c.Nodes[1:] {
		n.api(tb, "PUT", "sys/storage/raft/join", map[string]any{"leader_api_addr": n1.Addr}, nil)
		n.unseal(tb)
		n.waitHealth(tb, func(h health) bool { return !h.Sealed })
	}
	c.waitVoters(tb, n1, 3)
	n1.CLI(tb, "", "plugin", "register", "-sha256="+sum, "secret", PluginName)
	n1.CLI(tb, "", "secrets", "enable", "-path="+Mount, PluginName)
	n1.CLI(tb, "", "write", Mount+"/config", "allow_loopback_http=true")
	return c
}

// newNode writes a node's configuration and plugin directory.
func (c *Cluster) newNode(tb testing.TB, bao, dir, name, engine string) *Node {
	tb.Helper()
	for _, d := range []string{dir, filepath.Join(dir, "data"), filepath.Join(dir, "plugins")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			tb.Fatal(err)
		}
	}
	copyEngine(tb, engine, filepath.Join(dir, "plugins", PluginName), nil)
	port, clusterPort := freePort(tb), freePort(tb)
	n := &Node{Name: name, cluster: c, Server: &Server{
		// No audit device: one declared in the configuration must be the
		// same on every node (the audit table is replicated), and three
		// processes would share its file.
		Bao: bao, Addr: "http://127.0.0.1:" + port, Log: filepath.Join(dir, "bao.log"),
		client: &http.Client{Timeout: 10 * time.Second},
	}}
	hcl := fmt.Sprintf(`storage "raft" {
  path                         = %q
  node_id                      = %q
  performance_multiplier       = 1
  autopilot_reconcile_interval = "1s"
  autopilot_update_interval    = "500ms"
}
listener "tcp" {
  address         = "127.0.0.1:%s"
  cluster_address = "127.0.0.1:%s"
  tls_disable     = true
}
api_addr         = "http://127.0.0.1:%s"
cluster_addr     = "http://127.0.0.1:%s"
plugin_directory = %q
`, filepath.Join(dir, "data"), name, port, clusterPort, port, clusterPort, filepath.Join(dir, "plugins"))
	config := filepath.Join(dir, "config.hcl")
	if err := os.WriteFile(config, []byte(hcl), 0o600); err != nil {
		tb.Fatal(err)
	}
	n.args = []string{"server", "-config=" + config}
	tb.Cleanup(func() {
		if n.proc != nil {
			n.proc.stop()
		}
	})
	return n
}

// start starts the node's server and waits until it answers.
func (n *Node) start(tb testing.TB) {
	tb.Helper()
	n.proc = startProcess(tb, n.Bao, n.args, n.Log)
	n.waitHealth(tb, func(health) bool { return true })
}

func (c *Cluster) initialise(tb testing.TB, n *Node) {
	tb.Helper()
	var out struct {
		Keys      []string `json:"keys_base64"`
		RootToken string   `json:"root_token"`
	}
	n.api(tb, "PUT", "sys/init", map[string]any{"secret_shares": 1, "secret_threshold": 1}, &out)
	if len(out.Keys) != 1 || out.RootToken == "" {
		tb.Fatalf("initialising %s: %d keys, root token given: %v", n.Name, len(out.Keys), out.RootToken != "")
	}
	c.unsealKey, c.RootToken = out.Keys[0], out.RootToken
	for _, m := range c.Nodes {
		m.root = c.RootToken
	}
}

// health is what sys/health says of a node.
type health struct {
	Initialized bool `json:"initialized"`
	Sealed      bool `json:"sealed"`
	Standby     bool `json:"standby"`
}

// health asks the node whether it is initialised, sealed or a standby;
// ok is false when it does not answer.
func (n *Node) health() (h health, ok bool) {
	resp, err := n.client.Get(n.Addr + "/v1/sys/health?standbyok=true&perfstandbyok=true&sealedcode=200&uninitcode=200")
	if err != nil {
		return h, false
	}
	defer resp.Body.Close()
	return h, resp.StatusCode == http.StatusOK && json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&h) == nil
}

// Active reports whether the node is the cluster's active node.
func (n *Node) Active() bool {
	h, ok := n.health()
	return ok && h.Initialized && !h.Sealed && !h.Standby
}

func (n *Node) waitHealth(tb testing.TB, cond func(health) bool) {
	tb.Helper()
	deadline := time.Now().Add(clusterTimeout)
	for {
		if h, ok := n.health(); ok && cond(h) {
			return
		}
		select {
		case <-n.proc.exited:
			tb.Fatalf("the bao server %s exited; its log:\n%s", n.Name, n.tail())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the bao server %s was not ready in %v; its log:\n%s", n.Name, clusterTimeout, n.tail())
		}
	}
}

// api calls Vault's HTTP API on the node as the root token, failing tb
// unless it answers 2xx; out, if not nil, receives the JSON answer.
func (n *Node) api(tb testing.TB, method, path string, body, out any) {
	tb.Helper()
	var b io.Reader = http.NoBody
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		b = bytes.NewReader(j)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, n.Addr+"/v1/"+path, b)
	if err != nil {
		tb.Fatal(err)
	}
	if n.root != "" {
		req.Header.Set("X-Vault-Token", n.root)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s on %s: %v", method, path, n.Name, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		tb.Fatalf("%s %s on %s: HTTP %d: %s", method, path, n.Name, resp.StatusCode, answer)
	}
	if out != nil {
		if err := json.Unmarshal(answer, out); err != nil {
			tb.Fatalf("%s %s on %s: %v", method, path, n.Name, err)
		}
	}
}

func (n *Node) unseal(tb testing.TB) {
	tb.Helper()
	n.api(tb, "PUT", "sys/unseal", map[string]any{"key": n.cluster.unsealKey}, nil)
}

// waitVoters waits until the Raft configuration, as n sees it, has voters
// voting members.
func (c *Cluster) waitVoters(tb testing.TB, n *Node, voters int) {
	tb.Helper()
	deadline := time.Now().Add(clusterTimeout)
	for {
		var out struct {
			Data struct {
				Config struct {
					Servers []struct {
						Voter bool `json:"voter"`
					} `json:"servers"`
				} `json:"config"`
			} `json:"data"`
		}
		n.api(tb, "GET", "sys/storage/raft/configuration", nil, &out)
		got := 0
		for _, s := range out.Data.Config.Servers {
			if s.Voter {
				got++
			}
		}
		if got >= voters {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the cluster has %d voters after %v, want %d", got, clusterTimeout, voters)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Active waits for an active node among the running, unsealed nodes and
// returns it.
func (c *Cluster) Active(tb testing.TB) *Node {
	tb.Helper()
	deadline := time.Now().Add(clusterTimeout)
	for {
		for _, n := range c.Nodes {
			if n.proc != nil && n.Active() {
				return n
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no active node after %v", clusterTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Standbys are the running nodes other than active.
func (c *Cluster) Standbys(active *Node) []*Node {
	var s []*Node
	for _, n := range c.Nodes {
		if n != active && n.proc != nil {
			s = append(s, n)
		}
	}
	return s
}

// Kill ends the node's server and its engine processes with SIGKILL, as a
// crash or a lost machine would.
func (n *Node) Kill(tb testing.TB) {
	tb.Helper()
	n.proc.kill()
	n.proc = nil
}

// Restart starts a killed node again and unseals it; it rejoins the
// cluster from its own Raft data.
func (n *Node) Restart(tb testing.TB) {
	tb.Helper()
	n.start(tb)
	n.unseal(tb)
	n.waitHealth(tb, func(h health) bool { return !h.Sealed })
}

// Seal seals the node (sys/seal is served by the node asked, standby or not).
func (n *Node) Seal(tb testing.TB) {
	tb.Helper()
	n.api(tb, "PUT", "sys/seal", nil, nil)
	n.waitHealth(tb, func(h health) bool { return h.Sealed })
}

// Unseal unseals a sealed node and waits until it serves again.
func (n *Node) Unseal(tb testing.TB) {
	tb.Helper()
	n.unseal(tb)
	n.waitHealth(tb, func(h health) bool { return !h.Sealed })
}

// Running reports whether the node's server runs (it was not killed, or was
// restarted since).
func (n *Node) Running() bool { return n.proc != nil }

// copyEngine copies the engine binary to dst, with extra bytes appended
// (which an executable ignores, and which change its checksum).
func copyEngine(tb testing.TB, engine, dst string, extra []byte) {
	tb.Helper()
	b, err := os.ReadFile(engine)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(dst, append(b, extra...), 0o700); err != nil {
		tb.Fatal(err)
	}
}

// InstallEngine puts a new build of the engine (the same program with a
// different checksum, as a new release would have) into every node's
// plugin directory as file, as an operator does before an upgrade, and
// returns its SHA-256 for `plugin register`.
func (c *Cluster) InstallEngine(tb testing.TB, file string) string {
	tb.Helper()
	var sum string
	for _, n := range c.Nodes {
		dst := filepath.Join(filepath.Dir(n.Log), "plugins", file)
		copyEngine(tb, c.engine, dst, []byte("\x00"+file))
		s, err := fileSHA256(dst)
		if err != nil {
			tb.Fatal(err)
		}
		sum = s
	}
	return sum
}
