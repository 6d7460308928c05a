package main

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/buildinfo"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
	"github.com/dt-credential-helper/dt-credential-helper/plugin"
)

// versionOf runs helper's `version -o json` and decodes it. Its members
// are checked against the names consumers read, stated here apart from
// the types that write them: a renamed member fails, though the types
// would read it back.
func versionOf(t *testing.T, helper string) versionReport {
	t.Helper()
	r := runPathFor(t, helper, runLimit, []string{"PATH=" + os.Getenv("PATH")}, "", "version", "-o", "json")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("version -o json: exit %d, stderr %q", r.code, r.stderr)
	}
	var members, plugin map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.stdout), &members); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, r.stdout)
	}
	if err := json.Unmarshal(members["plugin"], &plugin); err != nil {
		t.Fatalf("version -o json: plugin: %v\n%s", err, r.stdout)
	}
	want := []string{"commit", "dependencies", "go", "platform", "plugin", "program", "version"}
	if got := slices.Sorted(maps.Keys(members)); !slices.Equal(got, want) {
		t.Errorf("version -o json has members %q, want %q", got, want)
	}
	for m := range plugin {
		if !slices.Contains([]string{"commit", "dependencies", "error", "go", "path", "platform", "program", "same_build", "version"}, m) {
			t.Errorf("version -o json: plugin has a member %q", m)
		}
	}
	var v versionReport
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, r.stdout)
	}
	return v
}

// pinnedVersions are the versions go.mod pins for modules.
func pinnedVersions(t *testing.T, modules ...string) map[string]string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-m", "-f", "{{.Path}} {{with .Replace}}{{.Version}}{{else}}{{.Version}}{{end}}"}, modules...)...).Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	pinned := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if path, v, ok := strings.Cut(line, " "); ok {
			pinned[path] = v
		}
	}
	return pinned
}

// TestVersionJSON: each program reports the main dependencies it really
// links, at the versions go.mod pins: the helper its JWT, OAuth2 and lock
// libraries (and on Linux no go-keyring: it speaks D-Bus itself) and no
// go-plugin, gRPC or Vault client; the plugin's
// program, found next to it, go-plugin, gRPC and Vault's client.
func TestVersionJSON(t *testing.T) {
	t.Parallel()
	v := versionOf(t, binary)
	if v.Program != prog || v.Version == "" || v.Commit == "" || v.Go != runtime.Version() || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("the helper's report: %+v", v)
	}
	pinned := pinnedVersions(t, buildinfo.MainDependencies()...)
	check := func(who string, deps map[string]string, want, not []string) {
		t.Helper()
		for _, m := range want {
			if deps[m] == "" || deps[m] != pinned[m] {
				t.Errorf("%s reports %s at %q, want %q (go.mod's)", who, m, deps[m], pinned[m])
			}
		}
		for _, m := range not {
			if _, ok := deps[m]; ok {
				t.Errorf("%s reports %s, which it does not link", who, m)
			}
		}
		for m := range deps {
			if !slices.Contains(buildinfo.MainDependencies(), m) {
				t.Errorf("%s reports %s, not one of the main dependencies", who, m)
			}
		}
	}
	check(prog, v.Dependencies,
		[]string{"github.com/golang-jwt/jwt/v5", "golang.org/x/oauth2", "github.com/gofrs/flock"},
		[]string{"github.com/hashicorp/go-plugin", "google.golang.org/grpc", "github.com/hashicorp/vault/api"})
	if v.Plugin.Info == nil {
		t.Fatalf("no report of the plugin's program: %+v", v.Plugin)
	}
	check(pluginProg, v.Plugin.Dependencies,
		[]string{"github.com/hashicorp/go-plugin", "google.golang.org/grpc", "google.golang.org/protobuf", "github.com/hashicorp/vault/api", "golang.org/x/oauth2"},
		nil)
	if v.Plugin.Program != pluginProg || v.Plugin.Path != filepath.Join(binDir, pluginProg) || v.Plugin.Error != "" {
		t.Errorf("plugin: program %q at %q, error %q; want %s at %s", v.Plugin.Program, v.Plugin.Path, v.Plugin.Error, pluginProg, filepath.Join(binDir, pluginProg))
	}
	// Built by one go build: the same build.
	if v.Plugin.SameBuild == nil || !*v.Plugin.SameBuild || v.Plugin.Version != v.Version || v.Plugin.Commit != v.Commit {
		t.Errorf("plugin %s %s, same_build %v; want the helper's %s %s", v.Plugin.Version, v.Plugin.Commit, v.Plugin.SameBuild, v.Version, v.Commit)
	}

	r := runInProcess(t, nil, "", "version", "-o", "yaml")
	if r.code != exitUsage || !strings.Contains(r.stderr, "text or json") {
		t.Errorf("version -o yaml: exit %d, stderr %q; want exit 2 naming the formats", r.code, r.stderr)
	}
}

// buildStamped builds the programs pkgs into dir as scripts/install.sh
// does: -trimpath, stripped, the version and commit set by the linker.
func buildStamped(t *testing.T, dir, version, commit string, pkgs ...string) {
	t.Helper()
	args := append([]string{"build", "-trimpath", "-ldflags", "-s -w -X main.version=" + version + " -X main.commit=" + commit, "-o", dir + string(filepath.Separator)}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", pkgs, err, out)
	}
}

// TestVersionStampedBuilds: the versions install.sh stamps are what both
// programs report; a plugin's program of another build is reported, warned
// about by `version`, and, at a go-plugin host's launch, in the host's log.
func TestVersionStampedBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the programs again")
	}
	t.Parallel()
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	dir := t.TempDir()
	buildStamped(t, dir, "v9.8.7-test", "0123abc", ".", "../"+pluginProg)
	helper := filepath.Join(dir, prog)

	// launch runs the helper as a go-plugin host does, fetches a token
	// (so the plugin has served), and returns the host's log.
	launch := func(t *testing.T) string {
		t.Helper()
		logs := &testutil.Buffer{}
		p, stop, err := plugin.Launch(plugin.LaunchConfig{
			Path:         helper,
			Args:         []string{"plugin"},
			Env:          pluginEnv(t, idp.TokenURL()),
			Logger:       hclog.New(&hclog.LoggerOptions{Name: "host", Output: logs, Level: hclog.Debug}),
			StartTimeout: 20 * time.Second,
		})
		if err != nil {
			t.Fatalf("launching: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if _, err := p.GetToken(ctx, "", false); err != nil {
			t.Fatal(err)
		}
		stop() // waits for the plugin to exit, so its stderr is all logged
		return logs.String()
	}

	t.Run("same build", func(t *testing.T) {
		v := versionOf(t, helper)
		if v.Plugin.Info == nil || v.Version != "v9.8.7-test" || v.Commit != "0123abc" || v.Plugin.Version != "v9.8.7-test" || v.Plugin.Commit != "0123abc" || v.Plugin.SameBuild == nil || !*v.Plugin.SameBuild {
			t.Errorf("report: %+v", v)
		}
		r := runPathFor(t, helper, runLimit, nil, "", "version")
		want := prog + " v9.8.7-test (commit 0123abc, " + runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH + ")\n" +
			pluginProg + " v9.8.7-test (commit 0123abc, " + runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
		if r.code != 0 || r.stdout != want || r.stderr != "" {
			t.Errorf("version: exit %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, want)
		}
		if log := launch(t); strings.Contains(log, "different builds") {
			t.Errorf("the host's log warns of different builds for one build:\n%s", log)
		}
	})
	t.Run("another build", func(t *testing.T) {
		buildStamped(t, dir, "v9.8.8-test", "4567def", "../"+pluginProg)
		v := versionOf(t, helper)
		if v.Plugin.Info == nil || v.Plugin.Version != "v9.8.8-test" || v.Plugin.SameBuild == nil || *v.Plugin.SameBuild {
			t.Errorf("report: %+v", v)
		}
		r := runPathFor(t, helper, runLimit, nil, "", "version")
		if r.code != 0 || !strings.Contains(r.stdout, pluginProg+" v9.8.8-test") ||
			strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "warning") || !strings.Contains(r.stderr, "v9.8.8-test 4567def") {
			t.Errorf("version: exit %d, stdout %q, stderr %q; want the plugin's line and one warning", r.code, r.stdout, r.stderr)
		}
		log := launch(t)
		if !strings.Contains(log, "[WARN]") || !strings.Contains(log, "different builds") ||
			!strings.Contains(log, "v9.8.7-test 0123abc") || !strings.Contains(log, "v9.8.8-test 4567def") {
			t.Errorf("the host's log does not warn of the two builds:\n%s", log)
		}
	})
}
