// Package stack_test keeps the package stack one-way, as
// docs/architecture.md draws it: each package imports only what is below it,
// and what a host or a Go program links is what it asked for. Each check runs
// for every platform the helper builds for, since platform files (the kernel
// keyring, the D-Bus store, the plugin's process guard) import differently.
package stack_test

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/dt-credential-helper/dt-credential-helper"

// platforms are the GOOS values the helper builds for.
func platforms() []string { return []string{"linux", "darwin", "windows"} }

// mintOnly are what minting a token takes and caching one does not: the DT
// exchange, its JWT library, and go-retryablehttp, which the exchange no
// longer uses but Vault's client does.
func mintOnly() []string {
	return []string{module + "/auth", "github.com/golang-jwt", "github.com/hashicorp/go-retryablehttp"}
}

// helperOnly are the helper's own dependencies, which a host that only
// launches the plugin must not link.
func helperOnly() []string {
	return []string{
		"github.com/godbus", "github.com/zalando/go-keyring", "github.com/gofrs/flock",
		"github.com/golang-jwt", "github.com/hashicorp/go-retryablehttp",
		module + "/auth", module + "/keyring", module + "/internal",
	}
}

// under reports whether package p is name or inside it.
func under(p, name string) bool { return p == name || strings.HasPrefix(p, name+"/") }

// list runs `go list` for goos with a template over pkgs and returns its
// output's lines.
func list(t *testing.T, goos, format string, pkgs ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-f", format}, pkgs...)...)
	cmd.Env = append(os.Environ(), "GOOS="+goos)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("GOOS=%s go list %v: %v\n%s", goos, pkgs, err, ee.Stderr)
		}
		t.Fatalf("GOOS=%s go list %v: %v", goos, pkgs, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// deps is every package pkg links on goos, itself included, tests excluded.
func deps(t *testing.T, goos, pkg string) []string {
	return strings.Fields(strings.Join(list(t, goos, `{{join .Deps " "}} {{.ImportPath}}`, pkg), " "))
}

// linkedOf lists the packages of bad (or inside them) that pkg links on
// goos.
func linkedOf(t *testing.T, goos, pkg string, bad []string) []string {
	t.Helper()
	var out []string
	for _, d := range deps(t, goos, pkg) {
		if slices.ContainsFunc(bad, func(b string) bool { return under(d, b) }) {
			out = append(out, d)
		}
	}
	return out
}

// forbid fails t for each package of bad that pkg links on goos, saying why.
func forbid(t *testing.T, goos, pkg string, bad []string, why string) {
	t.Helper()
	for _, d := range linkedOf(t, goos, pkg, bad) {
		t.Errorf("%s links %s%s", pkg, d, why)
	}
}

// control fails t unless pkg, a package above the one a check is about,
// links on goos every name of bad that the module's programs link there
// (some are one platform's: go-keyring is not linked on Linux, godbus only
// there): the positive control that shows the check would see them.
func control(t *testing.T, goos, pkg string, bad []string) {
	t.Helper()
	got := linkedOf(t, goos, pkg, bad)
	programs := list(t, goos, `{{join .Deps "\n"}}`, "./cmd/...")
	for _, b := range bad {
		inPrograms := slices.ContainsFunc(programs, func(d string) bool { return under(d, b) })
		if inPrograms && !slices.ContainsFunc(got, func(d string) bool { return under(d, b) }) {
			t.Errorf("%s does not link %s, which the check looks for: the check could see nothing", pkg, b)
		}
	}
	if len(got) == 0 {
		t.Errorf("%s links none of %v: the check could see nothing", pkg, bad)
	}
}

// linksAll fails t for each of names that pkg does not link on goos, per
// linked (its deps): the positive control of a forbid, so that a check for
// a misspelt or renamed name cannot pass by looking for nothing.
func linksAll(t *testing.T, goos, pkg string, linked, names []string) {
	t.Helper()
	for _, name := range names {
		if !slices.ContainsFunc(linked, func(p string) bool { return under(p, name) }) {
			t.Errorf("GOOS=%s: %s does not link %s: is the name right?", goos, pkg, name)
		}
	}
}

// onEachPlatform runs check as a parallel subtest per platform.
func onEachPlatform(t *testing.T, check func(t *testing.T, goos string)) {
	for _, goos := range platforms() {
		t.Run(goos, func(t *testing.T) {
			t.Parallel()
			check(t, goos)
		})
	}
}

func TestPublicPackagesImportNoInternal(t *testing.T) {
	onEachPlatform(t, func(t *testing.T, goos string) {
		// One line per package: its path, then everything it links.
		for _, line := range list(t, goos, `{{.ImportPath}} {{join .Deps " "}}`, "./...") {
			pkg, linked, _ := strings.Cut(line, " ")
			if strings.Contains(pkg, "/internal") || strings.Contains(pkg, "/cmd/") || strings.Contains(pkg, "/scripts/") || strings.Contains(pkg, "/examples/") || pkg == module {
				continue
			}
			for _, d := range strings.Fields(linked) {
				if strings.HasPrefix(d, module+"/") && strings.Contains(d[len(module):], "/internal") {
					t.Errorf("public package %s links %s", pkg, d)
				}
			}
		}
	})
}

// authLeaves are the only packages of ours auth may link: leaves, which
// link nothing of ours, holding a rule auth shares with the rest of the
// module (keyring/privatefile: when a file holding a secret, the
// credentials file, is trusted; bearer: what a token may be and where a
// credential may go).
func authLeaves() []string { return []string{module + "/keyring/privatefile", module + "/bearer"} }

// oursBeyond lists the packages of ours that pkg links on goos besides
// itself and allowed.
func oursBeyond(t *testing.T, goos, pkg string, allowed []string) []string {
	t.Helper()
	var out []string
	for _, d := range deps(t, goos, pkg) {
		if strings.HasPrefix(d, module+"/") && d != module+"/"+strings.TrimPrefix(pkg, "./") && !slices.Contains(allowed, d) {
			out = append(out, d)
		}
	}
	return out
}

func TestAuthImportsOnlyLeaves(t *testing.T) {
	onEachPlatform(t, func(t *testing.T, goos string) {
		for _, d := range oursBeyond(t, goos, "./auth", authLeaves()) {
			t.Errorf("auth links %s", d)
		}
		for _, leaf := range authLeaves() {
			rel := "./" + strings.TrimPrefix(leaf, module+"/")
			for _, d := range oursBeyond(t, goos, rel, nil) {
				t.Errorf("%s, which auth may link as a leaf, links %s", leaf, d)
			}
			if !slices.Contains(deps(t, goos, "./auth"), leaf) {
				t.Errorf("auth does not link %s: is the name right?", leaf)
			}
		}
		// A positive control: the check sees what a package above auth
		// links, so it cannot pass by looking at nothing.
		if got := oursBeyond(t, goos, "./internal/profile", authLeaves()); !slices.Contains(got, module+"/auth") {
			t.Errorf("internal/profile links %v beyond the leaves, which misses auth: the check sees nothing", got)
		}
	})
}

// TestServiceAccountStandsOnAuth: serviceaccount, DT's key API, which the
// command's rotate and the Vault engine both use, links of this module
// only auth and auth's leaves: it stays below both programs, and needs
// nothing of theirs.
func TestServiceAccountStandsOnAuth(t *testing.T) {
	allowed := append([]string{module + "/auth"}, authLeaves()...)
	onEachPlatform(t, func(t *testing.T, goos string) {
		for _, d := range oursBeyond(t, goos, "./serviceaccount", allowed) {
			t.Errorf("serviceaccount links %s: only auth and its leaves may be linked", d)
		}
		linked := deps(t, goos, "./serviceaccount")
		for _, want := range []string{module + "/auth", module + "/bearer"} {
			if !slices.Contains(linked, want) {
				t.Errorf("serviceaccount does not link %s: is the name right?", want)
			}
		}
	})
}

func TestKeyringDoesNotMintTokens(t *testing.T) {
	onEachPlatform(t, func(t *testing.T, goos string) {
		forbid(t, goos, "./keyring", mintOnly(), ": it caches tokens, it does not mint them")
		// The plugin's program mints and caches: it links them all.
		control(t, goos, "./cmd/dt-credential-helper-plugin", mintOnly())
	})
}

// TestPluginIsGlue: plugin imports only go-plugin (with its logger), gRPC,
// protobuf, the generated proto and oauth2, besides the standard library.
func TestPluginIsGlue(t *testing.T) {
	allowed := []string{
		"github.com/hashicorp/go-plugin", "github.com/hashicorp/go-hclog",
		"google.golang.org/grpc", "google.golang.org/protobuf",
		"golang.org/x/oauth2", "golang.org/x/sys/unix", module + "/proto", module + "/bearer",
	}
	onEachPlatform(t, func(t *testing.T, goos string) {
		for _, imp := range strings.Fields(strings.Join(list(t, goos, `{{join .Imports " "}}`, "./plugin"), " ")) {
			if !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
				continue // the standard library
			}
			if !slices.ContainsFunc(allowed, func(a string) bool { return under(imp, a) }) {
				t.Errorf("plugin imports %s", imp)
			}
		}
	})
}

// beyondStd lists what pkg links on goos besides the standard library and
// allowed (import paths, or prefixes of them); itself is not counted.
func beyondStd(t *testing.T, goos, pkg string, allowed []string) []string {
	t.Helper()
	self := module + "/" + strings.TrimPrefix(pkg, "./")
	var out []string
	for _, d := range deps(t, goos, pkg) {
		if d == self || !strings.Contains(strings.SplitN(d, "/", 2)[0], ".") {
			continue // itself, or the standard library
		}
		if !slices.ContainsFunc(allowed, func(a string) bool { return under(d, a) }) {
			out = append(out, d)
		}
	}
	return out
}

// TestBearerIsALeaf: bearer, the token's own rules (what a token may be,
// how long it is believed, when it is due, where it may go), links only
// the standard library, so that every package that mints, caches or serves
// tokens can stand on it: keyring without linking the exchange, a plugin
// host without linking the helper.
func TestBearerIsALeaf(t *testing.T) {
	onEachPlatform(t, func(t *testing.T, goos string) {
		for _, d := range beyondStd(t, goos, "./bearer", nil) {
			t.Errorf("bearer links %s: it must link only the standard library", d)
		}
		// Positive controls: the check sees what a package links beyond
		// the standard library (auth links bearer and golang-jwt), and
		// bearer is what the packages above it link.
		if got := beyondStd(t, goos, "./auth", nil); !slices.Contains(got, module+"/bearer") {
			t.Errorf("auth links %v beyond the standard library, which misses bearer: the check sees nothing", got)
		}
		for _, above := range []string{"./auth", "./keyring", "./plugin", "./vaulttoken", "./vaulttoken/vaultenv", "./cmd/vault-plugin-secrets-dt"} {
			if !slices.Contains(deps(t, goos, above), module+"/bearer") {
				t.Errorf("%s does not link bearer: each user of the token's rules takes them from there", above)
			}
		}
	})
}

// TestHostLinksNoHelper: a host that launches the plugin links none of the
// helper's own dependencies.
func TestHostLinksNoHelper(t *testing.T) {
	onEachPlatform(t, func(t *testing.T, goos string) {
		forbid(t, goos, "./examples/plugin-host", helperOnly(), "")
		// The plugin's program is the helper behind the host: it links
		// them all.
		control(t, goos, "./cmd/dt-credential-helper-plugin", helperOnly())
	})
}

// TestForbiddenNamesAreLinked: every name the checks above forbid is linked
// by some package of the module, so a misspelt or renamed one cannot make a
// check pass by looking for nothing.
func TestForbiddenNamesAreLinked(t *testing.T) {
	all := list(t, "linux", `{{join .Deps "\n"}}`, "./...")
	for _, name := range slices.Concat(mintOnly(), helperOnly()) {
		if !slices.ContainsFunc(all, func(p string) bool { return under(p, name) }) {
			t.Errorf("no package of the module links %s: the checks look for a name that is not there", name)
		}
	}
}

// vaultClient are Vault's client and what its initialisers cost most in
// every process that links it: dt-credential-helper, started for each
// kubectl, git and docker call, reads Vault through
// dt-credential-helper-plugin run as a child instead.
func vaultClient() []string {
	return []string{"github.com/hashicorp/vault/api", "github.com/hashicorp/go-sockaddr"}
}

// TestHelperLinksNoVaultClient: the helper links none of vaultClient, and
// the plugin's program, which reads Vault for it, links them all (so the
// check looks where they would be).
func TestHelperLinksNoVaultClient(t *testing.T) {
	onEachPlatform(t, func(t *testing.T, goos string) {
		forbid(t, goos, "./cmd/dt-credential-helper", vaultClient(), "")
		const served = "./cmd/dt-credential-helper-plugin"
		linksAll(t, goos, served, deps(t, goos, served), vaultClient())
	})
}

// vaultEnvLeaves are the only packages of ours vaulttoken/vaultenv may
// link: leaves that link nothing of ours (bearer for where a credential
// may go, keyring/privatefile for ~/.vault-token and the directory rule of
// an agent's socket).
func vaultEnvLeaves() []string {
	return []string{module + "/bearer", module + "/keyring/privatefile"}
}

// TestVaultEnvIsALeaf: vaulttoken/vaultenv, the Vault reference and the
// rules both the helper (which links no Vault client) and vaulttoken (which
// does) apply, links none of vaultClient and of this module only its
// leaves, not auth: it stays low enough for both to stand on.
func TestVaultEnvIsALeaf(t *testing.T) {
	const pkg = "./vaulttoken/vaultenv"
	onEachPlatform(t, func(t *testing.T, goos string) {
		forbid(t, goos, pkg, vaultClient(), "")
		for _, d := range oursBeyond(t, goos, pkg, vaultEnvLeaves()) {
			t.Errorf("%s links %s: only %v may be linked", pkg, d, vaultEnvLeaves())
		}
		linked := deps(t, goos, pkg)
		for _, leaf := range vaultEnvLeaves() {
			if !slices.Contains(linked, leaf) {
				t.Errorf("%s does not link %s: is the name right?", pkg, leaf)
			}
		}
		// A positive control: the check sees what vaulttoken, above
		// vaultenv, links beyond the leaves (auth, for Sanitize).
		if got := oursBeyond(t, goos, "./vaulttoken", vaultEnvLeaves()); !slices.Contains(got, module+"/auth") {
			t.Errorf("vaulttoken links %v beyond vaultenv's leaves, which misses auth: the check sees nothing", got)
		}
	})
}

// TestMisconfigIsALeaf: internal/misconfig, the rule by which every
// program sorts configuration errors (exit 2, FailedPrecondition, a 400),
// links nothing of this module, so that any layer can make and read them.
// oursBeyond sees what a package links (TestAuthImportsOnlyLeaves' positive
// control).
func TestMisconfigIsALeaf(t *testing.T) {
	onEachPlatform(t, func(t *testing.T, goos string) {
		for _, d := range oursBeyond(t, goos, "./internal/misconfig", nil) {
			t.Errorf("internal/misconfig links %s", d)
		}
	})
}

// pluginRuntime are go-plugin, gRPC and protobuf, whose initialisers make a
// process that links them start slowly: the plugin's program links them,
// the helper, started for each kubectl, git and docker call, must not.
func pluginRuntime() []string {
	return []string{"github.com/hashicorp/go-plugin", "google.golang.org/grpc", "google.golang.org/protobuf"}
}

// TestHelperLinksNoPluginRuntime: the helper links none of pluginRuntime,
// and the plugin's program, which it hands a host over to, links them all.
func TestHelperLinksNoPluginRuntime(t *testing.T) {
	onEachPlatform(t, func(t *testing.T, goos string) {
		forbid(t, goos, "./cmd/dt-credential-helper", pluginRuntime(), ": the plugin's program serves hosts")
		const served = "./cmd/dt-credential-helper-plugin"
		linksAll(t, goos, served, deps(t, goos, served), pluginRuntime())
	})
}

// vaultSDK is the Vault engine's SDK, a large tree (Vault's logical and
// framework packages, go-kms-wrapping, ...) that only the engine uses.
func vaultSDK() []string { return []string{"github.com/hashicorp/vault/sdk"} }

// TestOnlyTheEngineLinksTheVaultSDK: neither the helper nor the plugin's
// program links vaultSDK, which the engine does.
func TestOnlyTheEngineLinksTheVaultSDK(t *testing.T) {
	onEachPlatform(t, func(t *testing.T, goos string) {
		for _, pkg := range []string{"./cmd/dt-credential-helper", "./cmd/dt-credential-helper-plugin"} {
			forbid(t, goos, pkg, vaultSDK(), ": only the engine uses it")
		}
		const engine = "./cmd/vault-plugin-secrets-dt"
		linksAll(t, goos, engine, deps(t, goos, engine), vaultSDK())
	})
}

// dockerClient is the docker credential helpers' client library: for
// driving a helper, which the helper itself never does.
func dockerClient() []string {
	return []string{"github.com/docker/docker-credential-helpers/client"}
}

// TestDockerClientOnlyInTests: the helper links dockerClient only in its
// tests, which drive the built binary with it.
func TestDockerClientOnlyInTests(t *testing.T) {
	const helper = "./cmd/dt-credential-helper"
	forbid(t, "linux", helper, dockerClient(), "; import it from _test.go files only")
	tested := strings.Fields(strings.Join(list(t, "linux", `{{join .Deps " "}}`, "-test", helper), " "))
	linksAll(t, "linux", helper+"'s tests", tested, dockerClient())
}
