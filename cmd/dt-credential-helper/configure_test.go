package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
)

// These tests run `configure` and then the real consumers of what it
// wrote: git (git config, git credential fill), docker's CLI and crane
// (config.json), kubectl (kubectl config view, and a real exec). The DT
// identity service cannot run here: the emulator (auth/authtest) issues
// the tokens the consumers get.

// homeOf returns env's HOME.
func homeOf(env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "HOME="); ok {
			return v
		}
	}
	return ""
}

// loginFileProfile stores profile name for testAccount, its secret in a
// private file (no keyring needed), routing hostList to it; it checks the
// secret with one token request.
func loginFileProfile(t *testing.T, env []string, tokenURL, name string, hostList ...string) {
	t.Helper()
	args := []string{"login", "--profile", name, "--key-id", testAccount.KeyID, "--email", testAccount.Email,
		"--token-endpoint", tokenURL, "--store", "file"}
	if len(hostList) > 0 {
		args = append(args, "--hosts", strings.Join(hostList, ","))
	}
	if r := runBinary(t, env, testSecret+"\n", args...); r.code != 0 {
		t.Fatalf("login: exit %d: %s", r.code, r.stderr)
	}
}

// withoutAccount is env without the DT account: tokens come from a profile.
func withoutAccount(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		return strings.HasPrefix(kv, "DT_SERVICE_ACCOUNT_") || strings.HasPrefix(kv, "DT_TOKEN_ENDPOINT=")
	})
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// configuredFill runs `git credential fill` with the helpers git's
// configuration names (gitFill names ours on the command line), outside
// any repository.
func configuredFill(t *testing.T, gitBin string, env []string, input string) result {
	t.Helper()
	return runGitCmd(t, gitBin, t.TempDir(), env, input+"\n", "credential", "fill")
}

// TestConfigureGit: the wiring README's git section shows, written
// through the real git: git resolves the DT hosts' helper to "dt", clears
// a helper configured for all hosts, and `git credential fill` gets a
// token from the helper; a dry run and a second run change nothing.
func TestConfigureGit(t *testing.T) {
	gitBin, _ := lookGit(t)
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env := gitEnv(t, idp.TokenURL())
	global := filepath.Join(homeOf(env), ".gitconfig")
	// A helper for every host, which would be handed the token to keep.
	mustGit(t, gitBin, "", env, "config", "--global", "credential.helper", "store")

	before := mustRead(t, global)
	r := runBinary(t, env, "", "configure", "git", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "git config --global --replace-all credential.https://api.d21s.com.helper ''\n") ||
		!strings.Contains(r.stdout, "git config --global --add credential.https://api.d21s.com.helper dt\n") || !strings.Contains(r.stdout, "dry run") {
		t.Errorf("dry run: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if mustRead(t, global) != before {
		t.Fatal("the dry run changed git's configuration")
	}

	if r := runBinary(t, env, "", "configure", "git"); r.code != 0 || r.stderr != "" {
		t.Fatalf("configure git: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for _, host := range []string{"api.d21s.com", "api.disruptive-technologies.com", "emulator.disruptive-technologies.com"} {
		if got := mustGit(t, gitBin, "", env, "config", "--get-urlmatch", "credential.helper", "https://"+host); got != "dt\n" {
			t.Errorf("git's helper for %s: %q, want dt", host, got)
		}
		if got := mustGit(t, gitBin, "", env, "config", "--global", "--get-all", "credential.https://"+host+".helper"); got != "\ndt\n" {
			t.Errorf("%s's helper list: %q, want the empty reset, then dt", host, got)
		}
	}
	if got := mustGit(t, gitBin, "", env, "config", "--get-urlmatch", "credential.helper", "https://example.com"); got != "store\n" {
		t.Errorf("another host's helper: %q, want store, untouched", got)
	}
	fill := configuredFill(t, gitBin, env, "protocol=https\nhost=api.d21s.com\n")
	if got := gitAttrs(fill.stdout); fill.code != 0 || !idp.Valid(got["password"]) {
		t.Fatalf("git credential fill: exit %d, attributes %v\n%s", fill.code, attrNames(got), fill.stderr)
	}
	// fill asks helpers in order and stops at the first answer; with store
	// still in the list it would have been asked (and said nothing here).
	// approve is what git runs after a success: store must not get the token.
	approve := runGitCmd(t, gitBin, t.TempDir(), env, fill.stdout, "credential", "approve")
	if _, err := os.Stat(filepath.Join(homeOf(env), ".git-credentials")); approve.code != 0 || err == nil {
		t.Errorf("git credential approve: exit %d; ~/.git-credentials exists: %v (the token went to store)", approve.code, err == nil)
	}

	wired := mustRead(t, global)
	r = runBinary(t, env, "", "configure", "git")
	if r.code != 0 || !strings.Contains(r.stdout, "nothing to change") || strings.Contains(r.stdout, "git config") {
		t.Errorf("second run: exit %d, stdout %q", r.code, r.stdout)
	}
	if mustRead(t, global) != wired {
		t.Error("the second run changed git's configuration")
	}
}

// TestConfigureGitProfile: with --profile, each host's helper names the
// profile, replacing README's short form; git credential fill gets the
// profile's token with no account in the environment. --file writes
// another file.
func TestConfigureGitProfile(t *testing.T) {
	gitBin, _ := lookGit(t)
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env := gitEnv(t, idp.TokenURL())
	loginFileProfile(t, env, idp.TokenURL(), "prod")
	env = withoutAccount(env)
	mustGit(t, gitBin, "", env, "config", "--global", "credential.https://api.d21s.com.helper", "dt")

	r := runBinary(t, env, "", "configure", "git", "--profile", "prod", "--hosts", "api.d21s.com")
	if r.code != 0 || !strings.Contains(r.stdout, "'dt --profile prod'") {
		t.Fatalf("configure: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := mustGit(t, gitBin, "", env, "config", "--global", "--get-all", "credential.https://api.d21s.com.helper"); got != "\ndt --profile prod\n" {
		t.Errorf("helper list %q, want the reset, then dt --profile prod (the old dt replaced)", got)
	}
	requests := idp.Requests()
	fill := configuredFill(t, gitBin, env, "protocol=https\nhost=api.d21s.com\n")
	if got := gitAttrs(fill.stdout); fill.code != 0 || !idp.Valid(got["password"]) || idp.Requests() != requests+1 {
		t.Fatalf("git credential fill: exit %d, attributes %v, %d token requests\n%s", fill.code, attrNames(got), idp.Requests()-requests, fill.stderr)
	}

	file := filepath.Join(t.TempDir(), "dt.gitconfig")
	if r := runBinary(t, env, "", "configure", "git", "--file", file, "--hosts", "api.d21s.com"); r.code != 0 {
		t.Fatalf("configure --file: exit %d, stderr %q", r.code, r.stderr)
	}
	if got := mustGit(t, gitBin, "", env, "config", "--file", file, "--get-all", "credential.https://api.d21s.com.helper"); got != "\ndt\n" {
		t.Errorf("--file: helper list %q", got)
	}
}

// TestConfigureDocker: credHelpers merged into a docker config.json that
// holds logins and settings of other tools, which stay as they were; the
// real docker CLI then runs the helper for a DT host; a dry run and a
// second run change nothing, and a file that is not JSON is refused.
func TestConfigureDocker(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	old := `{"auths": {"registry.example.com": {"auth": "dXNlcjpwYXNz"}}, "credsStore": "desktop",
		"credHelpers": {"gcr.io": "gcloud"}, "psFormat": "table {{.ID}}", "x-tool": {"n": 1.50}}`
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	env := withEnv(baseEnv(t, idp.TokenURL()),
		"PATH="+helperLinks(t)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"DOCKER_CONFIG="+dir)

	r := runBinary(t, env, "", "configure", "docker", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, `+  "api.d21s.com": "dt"`) || !strings.Contains(r.stdout, "dry run") || mustRead(t, path) != old {
		t.Fatalf("dry run: exit %d, stdout %q, stderr %q (file changed: %v)", r.code, r.stdout, r.stderr, mustRead(t, path) != old)
	}
	if r := runBinary(t, env, "", "configure", "docker"); r.code != 0 || r.stderr != "" {
		t.Fatalf("configure docker: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	var got, was map[string]any
	if err := json.Unmarshal([]byte(mustRead(t, path)), &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(old), &was); err != nil {
		t.Fatal(err)
	}
	helpers, _ := got["credHelpers"].(map[string]any)
	for _, host := range []string{"api.d21s.com", "api.disruptive-technologies.com", "emulator.disruptive-technologies.com"} {
		if helpers[host] != "dt" {
			t.Errorf("credHelpers[%s] = %v, want dt", host, helpers[host])
		}
	}
	for k, v := range was {
		if k != "credHelpers" && !jsonEqual(got[k], v) {
			t.Errorf("%s: %v, want %v as it was", k, got[k], v)
		}
	}
	if helpers["gcr.io"] != "gcloud" || got["credsStore"] != "desktop" {
		t.Errorf("other helpers or the store changed: %v, credsStore %v", helpers, got["credsStore"])
	}

	wired := mustRead(t, path)
	r = runBinary(t, env, "", "configure", "docker")
	if r.code != 0 || !strings.Contains(r.stdout, "nothing to change") || mustRead(t, path) != wired {
		t.Errorf("second run: exit %d, stdout %q; file changed: %v", r.code, r.stdout, mustRead(t, path) != wired)
	}

	dockerLogin(t, env, idp)

	bad := `{"credHelpers": {"api.d21s.com": "other"},` // cut short
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runBinary(t, env, "", "configure", "docker")
	if r.code != exitUsage || !strings.Contains(r.stderr, path) || strings.Count(r.stderr, "\n") != 1 || mustRead(t, path) != bad {
		t.Errorf("unparseable file: exit %d, stderr %q; want exit 2 naming %s, the file untouched", r.code, r.stderr, path)
	}
}

// jsonEqual compares decoded JSON values.
func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// dockerLogin runs the real docker CLI's login for a DT host with no
// daemon to reach: it reads config.json, finds credHelpers' "dt", and runs
// docker-credential-dt get, whose user it shows, before it fails on the
// missing daemon. A token request to the emulator shows the helper ran.
func dockerLogin(t *testing.T, env []string, idp *authtest.Server) {
	t.Helper()
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Log("docker is not installed: the docker CLI's read of config.json is not checked")
		return
	}
	requests := idp.Requests()
	cmd := exec.Command(docker, "login", "api.d21s.com")
	cmd.Env = withEnv(env, "DOCKER_HOST=unix://"+filepath.Join(t.TempDir(), "no-daemon.sock"))
	cmd.Stdin = strings.NewReader("")
	out, _ := cmd.CombinedOutput()
	checkNoLeak(t, result{stdout: string(out)})
	if !strings.Contains(string(out), "[Username: oauth2accesstoken]") || idp.Requests() != requests+1 {
		t.Errorf("docker login did not get the helper's credentials (%d token requests):\n%s", idp.Requests()-requests, out)
	}
}

// TestConfigureDockerProfile: docker runs helpers without arguments, so
// --profile wires only hosts the profile lists; crane (go-containerregistry,
// which reads config.json as docker does) then gets that profile's token
// with no account in its environment. A DT host, which gets the default
// account's tokens, is refused for --profile, and nothing is written.
func TestConfigureDockerProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crane")
	}
	crane := buildCrane(t)
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	dir := t.TempDir()
	env := withEnv(baseEnv(t, idp.TokenURL()),
		"PATH="+helperLinks(t)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"DOCKER_CONFIG="+dir)
	loginFileProfile(t, env, idp.TokenURL(), "reg", "127.0.0.1:5999")
	env = withoutAccount(env)

	r := runBinary(t, env, "", "configure", "docker", "--profile", "reg", "--hosts", "api.d21s.com")
	if r.code != exitUsage || !strings.Contains(r.stderr, "without arguments") || !strings.Contains(r.stderr, "--hosts api.d21s.com") {
		t.Errorf("--profile for a DT host: exit %d, stderr %q; want exit 2 explaining why", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		t.Error("a refused configure wrote config.json")
	}

	if r := runBinary(t, env, "", "configure", "docker", "--profile", "reg"); r.code != 0 || !strings.Contains(r.stdout, `"127.0.0.1:5999": "dt"`) {
		t.Fatalf("configure docker --profile reg: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	cmd := exec.Command(crane, "auth", "get", "127.0.0.1:5999")
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var cred struct{ Username, Secret string }
	if err != nil || json.Unmarshal(stdout.Bytes(), &cred) != nil || cred.Username != "oauth2accesstoken" || !idp.Valid(cred.Secret) {
		t.Errorf("crane auth get: %v, username %q, valid token %v\n%s", err, cred.Username, idp.Valid(cred.Secret), stderr.String())
	}
}

// kubectlEnv is an environment for kubectl with a private kubeconfig and
// the built binary on PATH as dt-credential-helper, as installed.
func kubectlEnv(t *testing.T, tokenURL string) (env []string, kubeconfig string) {
	t.Helper()
	env = baseEnv(t, tokenURL)
	kubeconfig = filepath.Join(homeOf(env), ".kube", "config")
	return withEnv(env, "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"), "KUBECONFIG="+kubeconfig), kubeconfig
}

// kubectlUser returns the exec section of the kubeconfig's user, as
// kubectl itself reads it.
func kubectlUser(t *testing.T, kubectl string, env []string, user string) map[string]any {
	t.Helper()
	cmd := exec.Command(kubectl, "config", "view", "-o", "json")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl config view: %v", err)
	}
	var cfg struct {
		Users []struct {
			Name string
			User map[string]any
		}
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, u := range cfg.Users {
		if u.Name == user {
			exec, _ := u.User["exec"].(map[string]any)
			return exec
		}
	}
	return nil
}

// kubeAPI is a stand-in for a Kubernetes API server's /version over TLS
// that takes only tokens the emulator issued.
type kubeAPI struct {
	url string
	ca  []byte // PEM
}

func newKubeAPI(t *testing.T, idp *authtest.Server) (kubeAPI, *atomic.Int32) {
	t.Helper()
	var authorized atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if idp.Authorize(r) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		authorized.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"major":"1","minor":"32","gitVersion":"v1.32.0-dt-test","platform":"linux/amd64"}`)
	}))
	t.Cleanup(srv.Close)
	return kubeAPI{url: srv.URL, ca: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})}, &authorized
}

// TestConfigureKubectl: the kubeconfig user README shows, set through the
// real kubectl, which then runs the helper as its exec plugin against an
// API server that takes only the emulator's tokens; a dry run and a second
// run change nothing; a user holding other credentials is refused.
func TestConfigureKubectl(t *testing.T) {
	kubectl := lookKubectl(t)
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env, kubeconfig := kubectlEnv(t, idp.TokenURL())
	loginFileProfile(t, env, idp.TokenURL(), "kube")
	env = withoutAccount(env)

	r := runBinary(t, env, "", "configure", "kubectl", "--profile", "kube", "--dry-run")
	want := "kubectl config set-credentials dt-kube --exec-api-version=client.authentication.k8s.io/v1 --exec-command=dt-credential-helper " +
		"--exec-arg=token --exec-arg=--profile --exec-arg=kube --exec-interactive-mode=Never\n"
	if _, err := os.Stat(kubeconfig); r.code != 0 || !strings.HasPrefix(r.stdout, want) || err == nil {
		t.Fatalf("dry run: exit %d, stdout %q; kubeconfig written: %v", r.code, r.stdout, err == nil)
	}
	if r := runBinary(t, env, "", "configure", "kubectl", "--profile", "kube"); r.code != 0 || r.stderr != "" {
		t.Fatalf("configure kubectl: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	got := kubectlUser(t, kubectl, env, "dt-kube")
	if got["command"] != prog || got["apiVersion"] != "client.authentication.k8s.io/v1" || got["interactiveMode"] != "Never" ||
		!jsonEqual(got["args"], []string{"token", "--profile", "kube"}) {
		t.Errorf("kubectl's user dt-kube: %v", got)
	}
	wired := mustRead(t, kubeconfig)
	if r := runBinary(t, env, "", "configure", "kubectl", "--profile", "kube"); r.code != 0 || !strings.Contains(r.stdout, "nothing to change") || mustRead(t, kubeconfig) != wired {
		t.Errorf("second run: exit %d, stdout %q", r.code, r.stdout)
	}

	// A real exec: a cluster and a context that use the user.
	api, authorized := newKubeAPI(t, idp)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, api.ca, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"config", "set-cluster", "dt", "--server", api.url, "--certificate-authority", ca},
		{"config", "set-context", "dt", "--cluster", "dt", "--user", "dt-kube"},
		{"config", "use-context", "dt"},
	} {
		cmd := exec.Command(kubectl, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
	}
	out, errOut, code := runKubectl(t, kubectl, env, kubeconfig)
	if code != 0 || !strings.Contains(out, "v1.32.0-dt-test") || authorized.Load() == 0 {
		t.Fatalf("kubectl through the configured user: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	// The same user without a profile: kubectl replaces the arguments.
	if r := runBinary(t, env, "", "configure", "kubectl", "--user", "dt-kube"); r.code != 0 {
		t.Fatalf("configure kubectl --user dt-kube: exit %d, stderr %q", r.code, r.stderr)
	}
	if got := kubectlUser(t, kubectl, env, "dt-kube"); !jsonEqual(got["args"], []string{"token"}) {
		t.Errorf("args after configuring without a profile: %v, want [token]", got["args"])
	}

	cmd := exec.Command(kubectl, "config", "set-credentials", "admin", "--token", "not-a-dt-token")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl set-credentials: %v\n%s", err, out)
	}
	before := mustRead(t, kubeconfig)
	r = runBinary(t, env, "", "configure", "kubectl", "--user", "admin")
	if r.code != exitUsage || !strings.Contains(r.stderr, `"admin" already has token set`) || mustRead(t, kubeconfig) != before {
		t.Errorf("a user with a token: exit %d, stderr %q; want exit 2, kubeconfig untouched", r.code, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "not-a-dt-token") {
		t.Error("configure showed the user's token")
	}

	// A user that runs the helper, with settings of its own in the exec
	// environment (another profile): set-credentials would keep them.
	kubectlRun(t, kubectl, env, "config", "set-credentials", "envy", "--exec-api-version=client.authentication.k8s.io/v1",
		"--exec-command="+prog, "--exec-arg=token", "--exec-interactive-mode=Never", "--exec-env=DT_PROFILE=other")
	before = mustRead(t, kubeconfig)
	r = runBinary(t, env, "", "configure", "kubectl", "--user", "envy")
	if r.code != exitUsage || !strings.Contains(r.stderr, "sets DT_PROFILE in its environment") ||
		!strings.Contains(r.stderr, "kubectl config set-credentials envy --exec-env=DT_PROFILE-") || mustRead(t, kubeconfig) != before {
		t.Fatalf("a user whose exec sets DT_PROFILE: exit %d, stderr %q; want exit 2 naming it and its removal, kubeconfig untouched", r.code, r.stderr)
	}
	kubectlRun(t, kubectl, env, "config", "set-credentials", "envy", "--exec-env=DT_PROFILE-")
	if r := runBinary(t, env, "", "configure", "kubectl", "--user", "envy"); r.code != 0 || !strings.Contains(r.stdout, "nothing to change") {
		t.Errorf("after the removal configure gave: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// kubectlRun runs kubectl with args and env, failing t when it fails.
func kubectlRun(t *testing.T, kubectl string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(kubectl, args...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
}

// TestConfigureWithoutTool: where git or kubectl is not on PATH, configure
// prints the commands to run where it is, changes nothing and exits 0.
func TestConfigureWithoutTool(t *testing.T) {
	t.Parallel()
	env := withEnv(baseEnv(t, "http://127.0.0.1:1/oauth2/token"), "PATH="+t.TempDir())
	for tool, want := range map[string]string{
		"git":     "git config --global --add credential.https://api.d21s.com.helper dt\n",
		"kubectl": "kubectl config set-credentials dt --exec-api-version=client.authentication.k8s.io/v1 --exec-command=dt-credential-helper --exec-arg=token --exec-interactive-mode=Never\n",
	} {
		r := runInProcess(t, env, "", "configure", tool)
		if r.code != 0 || !strings.Contains(r.stdout, want) || !strings.Contains(r.stderr, tool+" is not on PATH") {
			t.Errorf("configure %s without %s: exit %d, stdout %q, stderr %q", tool, tool, r.code, r.stdout, r.stderr)
		}
	}
}

// TestConfigureUsage: a command line configure cannot act on is refused
// with exit 2 and one line saying why, before anything is written.
func TestConfigureUsage(t *testing.T) {
	t.Parallel()
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env := withEnv(baseEnv(t, idp.TokenURL()), "DOCKER_CONFIG="+t.TempDir())
	home := homeOf(env)
	for _, p := range []struct{ name, hosts string }{{"prod", ""}, {"reg", "registry.example.com"}} {
		args := []string{"login", "--no-verify", "--store", "file", "--profile", p.name, "--key-id", "k", "--email", "e@x.serviceaccount.d21s.com"}
		if p.hosts != "" {
			args = append(args, "--hosts", p.hosts)
		}
		if r := runInProcess(t, env, testSecret+"\n", args...); r.code != 0 {
			t.Fatalf("login %s: exit %d, %s", p.name, r.code, r.stderr)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"configure"}, "name the tool"},
		{[]string{"configure", "svn"}, `unknown tool "svn"`},
		{[]string{"configure", "git", "docker"}, `unexpected argument "docker"`},
		{[]string{"configure", "git", "--user", "u"}, "--user is for kubectl only"},
		{[]string{"configure", "--kubeconfig", "k", "docker"}, "--kubeconfig is for kubectl only"},
		{[]string{"configure", "kubectl", "--hosts", "api.d21s.com"}, "--hosts is for git and docker only"},
		{[]string{"configure", "git", "--local", "--file", "f"}, "give one"},
		{[]string{"configure", "git", "--profile", "../x"}, "invalid profile name"},
		{[]string{"configure", "kubectl", "--profile", "nosuch"}, `unknown profile "nosuch"`},
		{[]string{"configure", "git", "--hosts", "example.com"}, "hands no token to example.com"},
		{[]string{"configure", "git", "--hosts", "https://api.d21s.com/"}, "not a URL"},
		{[]string{"configure", "git", "--profile", "prod", "--hosts", "registry.example.com"}, `profile "reg"'s tokens`},
		{[]string{"configure", "docker", "--profile", "prod"}, "without arguments"},
		{[]string{"configure", "git", "--secret", "x"}, "never taken on the command line"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runInProcess(t, env, "", tc.args...)
			if r.code != exitUsage || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and one line saying %q", r.code, r.stdout, r.stderr, tc.want)
			}
		})
	}
	for _, name := range []string{".gitconfig", ".kube"} {
		if _, err := os.Stat(filepath.Join(home, name)); err == nil {
			t.Errorf("a refused configure wrote %s", name)
		}
	}
	if entries, _ := os.ReadDir(strings.TrimPrefix(env[len(env)-1], "DOCKER_CONFIG=")); len(entries) != 0 {
		t.Error("a refused configure wrote docker's configuration")
	}
}
