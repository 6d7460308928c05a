package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// dockerEnv is an environment for configure docker with docker's
// configuration in dir, the helper's links on PATH and hostList routed to
// the default account. No token is fetched: the endpoint is never asked.
func dockerEnv(t *testing.T, dir string, hostList ...string) []string {
	t.Helper()
	return withEnv(baseEnv(t, "http://127.0.0.1:1/unused"),
		"PATH="+helperLinks(t)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"DOCKER_CONFIG="+dir, "DT_CREDENTIAL_HOSTS="+strings.Join(hostList, ","))
}

// credHelpersIn returns the credHelpers of the docker configuration at path.
func credHelpersIn(t *testing.T, path string) map[string]string {
	t.Helper()
	var cfg struct{ CredHelpers map[string]string }
	if err := json.Unmarshal([]byte(mustRead(t, path)), &cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cfg.CredHelpers
}

// TestConfigureDockerConcurrent: concurrent runs of configure docker, real
// processes on one config.json, each for a host of its own, all succeed
// and every host is there afterwards: no run's entry is lost to another's
// write.
func TestConfigureDockerConcurrent(t *testing.T) {
	const runs, rounds = 8, 10
	hostList := make([]string, runs)
	for i := range hostList {
		hostList[i] = fmt.Sprintf("h%d.example.com", i)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	env := dockerEnv(t, dir, hostList...)
	for round := range rounds {
		if err := os.WriteFile(path, []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
		results, errs := make([]result, runs), make([]error, runs)
		var wg sync.WaitGroup
		for i, host := range hostList {
			wg.Go(func() { results[i], errs[i] = execBounded(env, "", runLimit, "configure", "docker", "--hosts", host) })
		}
		wg.Wait()
		// A run that says it wrote and whose entry is gone is the lost
		// update; one that gave up is a failure too.
		helpers := credHelpersIn(t, path)
		for i, r := range results {
			if strings.Contains(r.stdout, "docker: wrote") && helpers[hostList[i]] != "dt" {
				t.Errorf("round %d: credHelpers %v lacks %s, whose run exited %d saying it wrote it", round, helpers, hostList[i], r.code)
			}
		}
		for i, r := range results {
			if errs[i] != nil || r.code != 0 || helpers[hostList[i]] != "dt" {
				t.Fatalf("round %d, %s: %v, exit %d, stdout %q, stderr %q", round, hostList[i], errs[i], r.code, r.stdout, r.stderr)
			}
		}
	}
}

// TestConfigureDockerDryRunCreatesNothing: a dry run where docker has no
// configuration directory yet creates none; the real run then creates it
// 0700, as docker does, and the file 0600.
func TestConfigureDockerDryRunCreatesNothing(t *testing.T) {
	env := dockerEnv(t, "", "h.example.com")
	dir := filepath.Join(homeOf(env), ".docker")
	r := runBinary(t, env, "", "configure", "docker", "--dry-run", "--hosts", "h.example.com")
	if r.code != 0 || !strings.Contains(r.stdout, "dry run") {
		t.Fatalf("dry run: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the dry run created %s (%v)", dir, err)
	}
	if r := runBinary(t, env, "", "configure", "docker", "--hosts", "h.example.com"); r.code != 0 {
		t.Fatalf("configure docker: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for name, want := range map[string]fs.FileMode{dir: fs.ModeDir | 0o700, filepath.Join(dir, "config.json"): 0o600} {
		if fi, err := os.Lstat(name); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v %v, want %v", name, fi.Mode(), err, want)
		}
	}
	if got := credHelpersIn(t, filepath.Join(dir, "config.json")); got["h.example.com"] != "dt" {
		t.Errorf("credHelpers %v", got)
	}
}

// TestConfigureDockerRemovesStaleTemp: a temporary file a run killed
// before its rename left beside config.json (the whole configuration,
// logins and all) is removed by the next run that writes; one written a
// moment ago, as a run writing now would have it, is left alone, and so is
// another user's.
func TestConfigureDockerRemovesStaleTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	plant := func(name string, age time.Duration) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(`{"auths": {"registry.example.com": {"auth": "dXNlcjpwYXNz"}}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, time.Now().Add(-age), time.Now().Add(-age)); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stale := plant(".config.json.tmp-1234567", time.Hour)
	fresh := plant(".config.json.tmp-7654321", 0)
	other := plant(".config.json.tmp-42-not-ours", time.Hour) // not a name Replace gives
	var theirs string
	if os.Geteuid() == 0 {
		theirs = plant(".config.json.tmp-99", time.Hour)
		if err := os.Chown(theirs, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	env := dockerEnv(t, dir, "h.example.com")
	if r := runBinary(t, env, "", "configure", "docker", "--hosts", "h.example.com"); r.code != 0 {
		t.Fatalf("configure docker: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Lstat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the stale temporary file %s is still there (%v)", stale, err)
	}
	for _, p := range []string{fresh, other, theirs} {
		if _, err := os.Lstat(p); p != "" && err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
}
