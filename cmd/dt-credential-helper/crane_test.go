package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
)

// TestCranePushAndList drives crane (go-containerregistry), a docker-config
// client nobody here wrote, through credHelpers in a private DOCKER_CONFIG:
// it pushes an image to a local registry that takes HTTP Basic auth whose
// password must be a token the emulator issued, then lists its tags. A
// second registry, listed in credHelpers but not served by the helper, must
// refuse crane: the helper is what lets it in. The registries are
// go-containerregistry's in-memory one on loopback, over plain http, which
// crane uses for loopback registries and the helper allows only there. The DT
// identity service cannot run here: the emulator (auth/authtest) stands in.
//
// crane is built from the module cache at the version go.mod pins (a tool
// dependency), so the test and CI run the same crane.
func TestCranePushAndList(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crane")
	}
	crane := buildCrane(t)
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	served := newTokenRegistry(t, idp)
	other := newTokenRegistry(t, idp)

	dockerConfig := t.TempDir()
	config, err := json.Marshal(map[string]any{"credHelpers": map[string]string{served.host: "dt", other.host: "dt"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dockerConfig, "config.json"), config, 0o600); err != nil {
		t.Fatal(err)
	}
	env := withEnv(baseEnv(t, idp.TokenURL()),
		"PATH="+helperLinks(t)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"DOCKER_CONFIG="+dockerConfig,
		"DT_CREDENTIAL_HOSTS="+served.host, // not other.host
	)
	layer := filepath.Join(t.TempDir(), "layer.tar")
	writeLayer(t, layer, "hello.txt", "hello from dt\n")

	run := func(args ...string) result {
		t.Helper()
		cmd := exec.Command(crane, args...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			t.Fatalf("crane %v: %v", args, err)
		}
		r := result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
		checkNoLeak(t, r)
		return r
	}

	repo := served.host + "/dt/hello"
	if r := run("append", "-f", layer, "-t", repo+":v1"); r.code != 0 {
		t.Fatalf("crane append (push): exit %d\n%s", r.code, r.stderr)
	}
	r := run("ls", repo)
	if r.code != 0 || r.stdout != "v1\n" {
		t.Fatalf("crane ls: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	if r := run("catalog", served.host); r.code != 0 || r.stdout != "dt/hello\n" {
		t.Errorf("crane catalog: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	if tokens := served.tokens(); len(tokens) != 1 || !idp.Valid(tokens[0]) {
		t.Errorf("the registry accepted %d distinct tokens, want 1 valid one for every call", len(tokens))
	}
	if n := idp.Requests(); n != 1 {
		t.Errorf("%d token requests for push, ls and catalog, want 1 (the rest cached)", n)
	}

	// The control: the same client and config, a host the helper does not
	// serve. crane goes anonymous and the registry refuses it.
	r = run("append", "-f", layer, "-t", other.host+"/dt/hello:v1")
	if r.code == 0 || !strings.Contains(r.stderr, "401") && !strings.Contains(r.stderr, "UNAUTHORIZED") {
		t.Errorf("push to a host the helper does not serve: exit %d, want 401\n%s", r.code, r.stderr)
	}
	if r := run("ls", other.host+"/dt/hello"); r.code == 0 {
		t.Errorf("ls on a host the helper does not serve succeeded: %q", r.stdout)
	}
	if n := other.refused(); n == 0 {
		t.Errorf("the unserved registry refused no request; the control proves nothing")
	}
	if tokens := other.tokens(); len(tokens) != 0 {
		t.Errorf("the unserved registry was sent %d tokens, want none", len(tokens))
	}
	if n := idp.Requests(); n != 1 {
		t.Errorf("%d token requests after the control, want still 1", n)
	}
}

// buildCrane builds crane at the version go.mod pins.
func buildCrane(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "crane")
	cmd := exec.Command("go", "build", "-o", out, "github.com/google/go-containerregistry/cmd/crane")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building crane: %v\n%s", err, b)
	}
	return out
}

// tokenRegistry is an in-memory OCI registry on loopback that takes HTTP
// Basic auth whose password is a token the emulator says is valid.
type tokenRegistry struct {
	host string // 127.0.0.1:PORT

	mu       sync.Mutex
	accepted []string // distinct tokens accepted
	refusals int
}

func newTokenRegistry(t *testing.T, idp *authtest.Server) *tokenRegistry {
	t.Helper()
	reg := &tokenRegistry{}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, password, ok := r.BasicAuth()
		if !ok || !idp.Valid(password) {
			reg.mu.Lock()
			reg.refusals++
			reg.mu.Unlock()
			w.Header().Set("WWW-Authenticate", `Basic realm="dt-registry"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"a DT access token is required"}]}`)
			return
		}
		reg.mu.Lock()
		if len(reg.accepted) == 0 || reg.accepted[len(reg.accepted)-1] != password {
			reg.accepted = append(reg.accepted, password)
		}
		reg.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	reg.host = u.Host
	return reg
}

func (r *tokenRegistry) tokens() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.accepted...)
}

func (r *tokenRegistry) refused() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refusals
}

// writeLayer writes a tarball holding one file, a layer for crane append.
func writeLayer(t *testing.T, path, name, content string) {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(tw, content); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
