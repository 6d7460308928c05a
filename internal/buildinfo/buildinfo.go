// Package buildinfo says what a program of this module is: its version and
// commit (from the linker flags install.sh sets, or from the module's build
// information for a `go install`ed binary), the Go version it was built
// with, and the versions of the main dependencies it really links. Both
// dt-credential-helper and dt-credential-helper-plugin report through it,
// so `version -o json` has one shape, and the two can tell whether they
// come from the same build: the helper names its build to the plugin's
// program when it hands a host over ([EnvHandOver]), and reads the plugin
// program's own report ([Run]) for `version` and `doctor`.
package buildinfo

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/boundedbuf"
)

// Info is one program's build, as `version -o json` prints it.
type Info struct {
	Program  string `json:"program"`
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
	// Dependencies maps each of [MainDependencies] the program links to
	// its module version (a replacement's, when replaced); the ones it
	// does not link are absent.
	Dependencies map[string]string `json:"dependencies"`
}

// MainDependencies are the modules whose versions a report names: the
// chosen dependencies of DESIGN.md. Each program links only some of them
// (the helper no go-plugin, gRPC or Vault client; the plugin's program no
// JWT library), and reports those.
func MainDependencies() []string {
	return []string{
		"github.com/golang-jwt/jwt/v5",
		"golang.org/x/oauth2",
		"github.com/zalando/go-keyring",
		"github.com/godbus/dbus/v5",
		"github.com/gofrs/flock",
		"golang.org/x/sys",
		"github.com/hashicorp/go-plugin",
		"github.com/hashicorp/go-hclog",
		"google.golang.org/grpc",
		"google.golang.org/protobuf",
		"github.com/hashicorp/vault/api",
	}
}

// Read returns the running program's build. version and commit are the
// values the linker flags set (-X main.version=... -X main.commit=...),
// empty when unset: then the module's version and the VCS revision Go
// stamped are used, and "devel" and "unknown" when there are none.
func Read(program, version, commit string) Info {
	info := Info{
		Program:      program,
		Version:      version,
		Commit:       commit,
		Go:           runtime.Version(),
		Platform:     runtime.GOOS + "/" + runtime.GOARCH,
		Dependencies: map[string]string{},
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		fromBuild(&info, bi)
	}
	info.Version = cmp.Or(info.Version, "devel")
	info.Commit = cmp.Or(info.Commit, "unknown")
	return info
}

// fromBuild fills in what the linker flags left unset, and the main
// dependencies, from the module's build information.
func fromBuild(info *Info, bi *debug.BuildInfo) {
	if info.Version == "" {
		info.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && info.Commit == "" {
			info.Commit = s.Value
		}
	}
	main := MainDependencies()
	for _, m := range bi.Deps {
		if m.Replace != nil {
			m = m.Replace
		}
		if slices.Contains(main, m.Path) {
			info.Dependencies[m.Path] = m.Version
		}
	}
}

// Line is the one-line text report, as `version` prints it:
// "dt-credential-helper v1.2.3 (commit abc, go1.26.0, linux/amd64)".
func (i Info) Line() string {
	return fmt.Sprintf("%s %s (commit %s, %s, %s)", i.Program, i.Version, i.Commit, i.Go, i.Platform)
}

// Build names the build, version and commit, as [EnvHandOver] carries it.
func (i Info) Build() string { return i.Version + " " + i.Commit }

// SameBuild reports whether i and o come from the same build: the same
// version and commit. A helper and a plugin's program that differ may
// disagree on the cache's format or the command line they share.
func (i Info) SameBuild(o Info) bool { return i.Build() == o.Build() }

// EnvHandOver is set by dt-credential-helper, to its [Info.Build], in the
// environment it hands a go-plugin host's launch over to
// dt-credential-helper-plugin with: the one place both versions are known,
// so the plugin's program can warn, in the host's log, when they differ.
const EnvHandOver = "DT_CREDENTIAL_HELPER_BUILD"

// HandOverMismatch returns the warning the plugin's program logs when the
// helper that handed over to it (getenv's [EnvHandOver]) is of another
// build than own, or "" when they agree or the helper named none (an older
// helper, or the program run by hand).
func HandOverMismatch(getenv func(string) string, own Info) string {
	helper := getenv(EnvHandOver)
	if helper == "" || helper == own.Build() {
		return ""
	}
	// The helper's build comes from the environment: one printable line,
	// bounded.
	return fmt.Sprintf("dt-credential-helper (%.100s) and %s (%s) are of different builds: install both from the same one (scripts/install.sh installs both)",
		auth.OneLine(helper), own.Program, own.Build())
}

// maxReport bounds what [Run] reads from a program's report.
const maxReport = 64 << 10

// Run runs the program at path as `PATH version -o json`, with an empty
// environment (it needs nothing, and is handed no secret), until ctx ends,
// and returns its report. The caller decides whether path may be run at
// all (internal/sibling's checks).
func Run(ctx context.Context, path string) (Info, error) {
	cmd := exec.CommandContext(ctx, path, "version", "-o", "json")
	cmd.Env = []string{}
	stdout := boundedbuf.Buffer{Limit: maxReport}
	cmd.Stdout = &stdout
	// A program that left a child holding its stdout must not hold Run up
	// past its deadline.
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return Info{}, fmt.Errorf("%s version: no answer in time: %w", path, ctx.Err())
		}
		return Info{}, fmt.Errorf("%s version: %w", path, err)
	}
	if stdout.Over() {
		return Info{}, fmt.Errorf("%s version: a report over %d bytes", path, maxReport)
	}
	var info Info
	dec := json.NewDecoder(bytes.NewReader(stdout.Bytes()))
	if err := dec.Decode(&info); err != nil {
		return Info{}, fmt.Errorf("%s version: not a JSON report: %w", path, err)
	}
	if info.Program == "" || info.Version == "" {
		return Info{}, errors.New(path + " version: the report names no program or version")
	}
	return info, nil
}
