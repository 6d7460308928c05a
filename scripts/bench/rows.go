//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/zalando/go-keyring"
)

// row is one line of the table: a command run as a new process per call.
type row struct {
	id    string // names the row for the cost split and the targets
	name  string
	args  []string
	env   []string
	stdin string // fed through a pipe, the same plumbing for every row
	// floor is the row the ratios are taken against: floorPlain, or
	// floorStdin for a row that reads a request from stdin.
	floor string
	// want is the cached secret the output must contain: checked before
	// the timed calls and again with no network.
	want string
	// offline: the row answers from its cache, so it must answer in an
	// empty network namespace too.
	offline bool
	// optional: a failing first call reports the row as skipped (a cache
	// mode this build does not have, a kernel that refuses keyctl) instead
	// of failing the run.
	optional bool
	// skipped says why the row is not measured; shown in its place.
	skipped string
	ours    bool
	// fails: the call is meant to fail (exit 1), as a call with no valid
	// token does during an outage.
	fails bool
}

// ok reports whether res is what r's call should end with: success, or,
// for a row that fails, exit 1.
func (r row) ok(res result) bool {
	if r.fails {
		return exitCode(res.err) == 1
	}
	return res.err == nil
}

const (
	floorPlain = "hello"
	floorStdin = "hello, stdin"
)

// ourMode is one of this project's measured modes, all of the default
// build: since the plugin moved to a program of its own, there is no
// lighter build to compare it with.
type ourMode struct {
	id     string
	cmd    string // "token", "git" or "docker"
	cache  string // the --cache value; "" is the default, auto
	secret bool   // needs the Secret Service (skipped without one)
	// optional: rejected or refused modes are skipped with the reason.
	optional bool
}

// ourModes is the one table of this project's rows. A new cache mode is a
// line here: a mode the built binary rejects is reported as skipped, so the
// table can name modes before they land.
func ourModes() []ourMode {
	return []ourMode{
		{id: "auto", cmd: "token", cache: "", secret: true},
		{id: "kernel", cmd: "token", cache: "kernel", optional: true},
		{id: "keyring", cmd: "token", cache: "keyring", secret: true},
		{id: "file", cmd: "token", cache: "file"},
		{id: "git", cmd: "git", cache: "", secret: true},
		{id: "docker", cmd: "docker", cache: "", secret: true},
		{id: "uncached", cmd: "token", cache: "none"},
	}
}

// The requests the stdin rows answer, ours and the peers alike.
const (
	gitRequest    = "protocol=https\nhost=api.d21s.com\n\n"
	dockerRequest = "https://api.d21s.com"
)

// ourRow turns a mode into its row. Its want is filled in after the first
// call, from the token the same binary and store print.
func ourRow(m ourMode, bin string, env []string) row {
	helper := filepath.Join(bin, "dt-credential-helper")
	r := row{id: m.id, env: env, floor: floorPlain, offline: m.cache != "none", optional: m.optional, ours: true}
	r.args = []string{helper, m.cmd}
	what := m.cmd
	switch m.cmd {
	case "git":
		r.args = append(r.args, "get")
		r.stdin, r.floor, what = gitRequest, floorStdin, "`git get`"
	case "docker":
		r.args = append(r.args, "get")
		r.stdin, r.floor, what = dockerRequest, floorStdin, "`docker get`"
	}
	label := "auto (default)"
	switch m.cache {
	case "":
	case "none":
		label = "uncached (`--cache none`)"
	default:
		label = "`--cache " + m.cache + "`"
	}
	if m.cache != "" {
		r.args = append(r.args, "--cache", m.cache)
	}
	r.name = fmt.Sprintf("ours, default build, %s, %s", what, label)
	return r
}

// tokenArgs is the call that prints, with -o token, the token r's store
// holds: the want of r.
func tokenArgs(r row) []string {
	args := []string{r.args[0], "token", "-o", "token"}
	for i, a := range r.args {
		if a == "--cache" && i+1 < len(r.args) {
			args = append(args, "--cache", r.args[i+1])
		}
	}
	return args
}

// peers sets the peers' caches up.
type peers struct {
	tmp         string
	bin         string // scripts/bench's own binaries (gokeyring)
	dir         string // the peers built by scripts/bench/peers/build.sh
	env         []string
	withKeyring bool
	issuer      *issuer
	secret      string
	cleanups    []func()
}

// rows returns one row per peer, in the table's order. A peer that is not
// built, or whose cache cannot be set up, is a row that says why.
func (p *peers) rows() []row {
	return []row{
		p.gitCredentialCache(),
		p.gke(),
		p.kubelogin("disk"),
		p.kubelogin("keyring"),
		p.goKeyring(),
		p.dockerSecretService(),
		p.secretTool(),
	}
}

func (p *peers) close() {
	for i := len(p.cleanups) - 1; i >= 0; i-- {
		p.cleanups[i]()
	}
}

// built returns the path of a built peer, or why there is none.
func (p *peers) built(name string) (string, string) {
	path := filepath.Join(p.dir, name)
	if _, err := os.Stat(path); err == nil {
		return path, ""
	}
	if b, err := os.ReadFile(path + ".notbuilt"); err == nil {
		return "", "not built: " + strings.TrimSpace(string(b))
	}
	return "", "not built: " + path + " is missing (scripts/bench/peers/build.sh builds it)"
}

// setupCmd runs a peer's set-up step and returns its error with its output.
func (p *peers) setupCmd(stdin string, args ...string) error {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = p.env
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

const noSecretService = "not run: no Secret Service in this session"

// gitCredentialCache is git's own in-memory cache: a C client talking to a
// daemon over a Unix socket. `store` starts the daemon.
func (p *peers) gitCredentialCache() row {
	r := row{id: "peer-git-cache", name: "peer, `git credential-cache get` (in-memory daemon)", floor: floorStdin,
		stdin: gitRequest, env: p.env, want: p.secret, offline: true}
	git, err := exec.LookPath("git")
	if err != nil {
		r.skipped = "not run: no git on PATH"
		return r
	}
	dir := filepath.Join(p.tmp, "git-credential-cache")
	if err := os.Mkdir(dir, 0o700); err != nil {
		r.skipped = "not run: " + err.Error()
		return r
	}
	sock := filepath.Join(dir, "socket")
	store := "protocol=https\nhost=api.d21s.com\nusername=oauth2accesstoken\npassword=" + p.secret + "\n\n"
	if err := p.setupCmd(store, git, "credential-cache", "--socket", sock, "--timeout", "3600", "store"); err != nil {
		r.skipped = "not run: " + err.Error()
		return r
	}
	p.cleanups = append(p.cleanups, func() { _ = p.setupCmd("", git, "credential-cache", "--socket", sock, "exit") })
	r.args = []string{git, "credential-cache", "--socket", sock, "get"}
	return r
}

// gke is gke-gcloud-auth-plugin with its file cache, when it is built.
func (p *peers) gke() row {
	r := row{id: "peer-gke", name: "peer, gke-gcloud-auth-plugin, its file cache", floor: floorPlain}
	if _, why := p.built("gke-gcloud-auth-plugin"); why != "" {
		r.skipped = why
		return r
	}
	r.skipped = "not run: built, but no cache set-up here yet"
	return r
}

// kubelogin is `kubelogin get-token` answering from its token cache, which
// a first call fills from the fake issuer (the password grant: no browser).
// Its cache key is a hash of its flags, so the timed calls use the same ones.
func (p *peers) kubelogin(storage string) row {
	r := row{id: "peer-kubelogin-" + storage, name: "peer, kubelogin `get-token`, " + storage + " cache", floor: floorPlain,
		env: p.env, want: p.issuer.idToken, offline: true}
	path, why := p.built("kubelogin")
	if why != "" {
		r.skipped = why
		return r
	}
	if storage == "keyring" && !p.withKeyring {
		r.skipped = noSecretService
		return r
	}
	r.args = []string{path, "get-token",
		"--oidc-issuer-url=" + p.issuer.url, "--oidc-client-id=" + issuerClientID,
		"--grant-type=password", "--username=bench", "--password=bench",
		"--token-cache-dir=" + filepath.Join(p.tmp, "kubelogin-cache"), "--token-cache-storage=" + storage}
	before := p.issuer.requests()
	if err := p.setupCmd("", r.args...); err != nil {
		r.skipped = "not run: " + err.Error()
		r.args = nil
		return r
	}
	if p.issuer.requests() == before {
		r.skipped = "not run: the first call did not ask the fake issuer, so the cache it answers from is not the one set up here"
		r.args = nil
	}
	return r
}

// goKeyring is a bare go-keyring Get in its own process.
func (p *peers) goKeyring() row {
	r := row{id: "peer-go-keyring", name: "peer, bare go-keyring `Get` in its own process", floor: floorPlain,
		env: p.env, want: p.secret, offline: true}
	if !p.withKeyring {
		r.skipped = noSecretService
		return r
	}
	if err := keyring.Set("dt-bench-peer", "go-keyring", p.secret); err != nil {
		r.skipped = "not run: go-keyring Set: " + err.Error()
		return r
	}
	r.args = []string{filepath.Join(p.bin, "gokeyring"), "dt-bench-peer", "go-keyring"}
	return r
}

// dockerSecretService is docker's own Secret Service helper (C, libsecret).
func (p *peers) dockerSecretService() row {
	r := row{id: "peer-docker-secretservice", name: "peer, docker-credential-secretservice `get` (C, libsecret)", floor: floorStdin,
		stdin: dockerRequest, env: p.env, want: p.secret, offline: true}
	path, why := p.built("docker-credential-secretservice")
	if why != "" {
		r.skipped = why
		return r
	}
	if !p.withKeyring {
		r.skipped = noSecretService
		return r
	}
	creds, err := json.Marshal(map[string]string{"ServerURL": dockerRequest, "Username": "oauth2accesstoken", "Secret": p.secret})
	if err != nil {
		r.skipped = "not run: " + err.Error()
		return r
	}
	if err := p.setupCmd(string(creds), path, "store"); err != nil {
		r.skipped = "not run: " + err.Error()
		return r
	}
	r.args = []string{path, "get"}
	return r
}

// secretTool is libsecret's command line client.
func (p *peers) secretTool() row {
	r := row{id: "peer-secret-tool", name: "peer, `secret-tool lookup`", floor: floorPlain, env: p.env, want: p.secret, offline: true}
	st, err := exec.LookPath("secret-tool")
	if err != nil {
		r.skipped = "not run: no secret-tool on PATH (apt-get install libsecret-tools)"
		return r
	}
	if !p.withKeyring {
		r.skipped = noSecretService
		return r
	}
	if err := p.setupCmd(p.secret, st, "store", "--label=dt bench peer", "service", "dt-bench-peer", "account", "secret-tool"); err != nil {
		r.skipped = "not run: " + err.Error()
		return r
	}
	r.args = []string{st, "lookup", "service", "dt-bench-peer", "account", "secret-tool"}
	return r
}
