package scripts_test

import (
	"bytes"
	"debug/elf"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

// packageFiles are the files both packages install, but for zsh's
// completion, whose directory differs.
func packageFiles() []string {
	return []string{
		"/usr/bin/docker-credential-dt",
		"/usr/bin/dt-credential-helper",
		"/usr/bin/dt-credential-helper-plugin",
		"/usr/bin/git-credential-dt",
		"/usr/share/bash-completion/completions/dt-credential-helper",
		"/usr/share/doc/dt-credential-helper/LICENSE",
		"/usr/share/doc/dt-credential-helper/README.md",
		"/usr/share/fish/vendor_completions.d/dt-credential-helper.fish",
		"/usr/share/man/man1/dt-credential-helper.1.gz",
	}
}

// The directories zsh reads packaged completions from: Debian's, Fedora's.
const (
	debZshDir = "/usr/share/zsh/vendor-completions"
	rpmZshDir = "/usr/share/zsh/site-functions"
)

// TestPackages builds the .deb and the .rpm with package.sh and checks
// them with the tools that consume them. rpm lists the .rpm's files
// (rpm -qpl). dpkg installs the .deb (dpkg -i) into a root of its own,
// a temporary directory with a dpkg database of its own (--root), not
// into this machine's: there the installed program runs and reports the
// build it was stamped with, git finds git-credential-dt on PATH and
// gets a token through it, man finds the page by name, bash, zsh and fish
// load the completions from where the package put them (and zsh's and
// fish's own search paths on this machine hold those directories); then
// dpkg -r leaves nothing of it behind. The same dpkg unpacks and records
// the files as it would in /, and nothing on the machine changes.
func TestPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both programs and the packages")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "rpm", "git", "man", "zsh", "fish", "bash", "sha256sum", "gzip"} {
		if _, err := exec.LookPath(tool); err != nil {
			testutil.SkipOutsideCI(t, tool+" is not installed: scripts/test.sh installs it as root on Debian")
		}
	}
	out := t.TempDir()
	run(t, nil, "", "bash", "package.sh", out)
	sums := run(t, nil, out, "sha256sum", "-c", "SHA256SUMS")
	debs, _ := filepath.Glob(filepath.Join(out, "*.deb"))
	rpms, _ := filepath.Glob(filepath.Join(out, "*.rpm"))
	if len(debs) != 1 || len(rpms) != 1 || strings.Count(sums, ": OK\n") != 2 {
		t.Fatalf("want one .deb and one .rpm, both in SHA256SUMS: %v %v\n%s", debs, rpms, sums)
	}
	stamp := strings.TrimSpace(run(t, nil, "", "git", "describe", "--always", "--dirty"))

	t.Run("rpm -qpl", func(t *testing.T) {
		got := strings.Fields(run(t, nil, "", "rpm", "-qpl", rpms[0]))
		want := slices.Sorted(slices.Values(append(packageFiles(), rpmZshDir+"/_dt-credential-helper")))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("rpm -qpl (-want +got):\n%s", diff)
		}
		links := run(t, nil, "", "rpm", "-qp", "--queryformat", "[%{FILENAMES} %{FILELINKTOS}\n]", rpms[0])
		for _, l := range []string{"/usr/bin/git-credential-dt dt-credential-helper\n", "/usr/bin/docker-credential-dt dt-credential-helper\n"} {
			if !strings.Contains(links, l) {
				t.Errorf("the .rpm has no link %q:\n%s", l, links)
			}
		}
	})

	t.Run("dpkg -i, use, dpkg -r", func(t *testing.T) {
		if os.Geteuid() != 0 {
			testutil.SkipOutsideCI(t, "dpkg installs as root only, even into a root of its own")
		}
		root := dpkgRoot(t)
		before := tree(t, root)
		run(t, nil, "", "dpkg", "--root="+root, "-i", debs[0])
		listed := run(t, nil, "", "dpkg", "--root="+root, "-L", "dt-credential-helper")
		for _, f := range append(packageFiles(), debZshDir+"/_dt-credential-helper") {
			if !strings.Contains(listed, f+"\n") {
				t.Errorf("dpkg -L does not list %s:\n%s", f, listed)
			}
		}
		useInstalled(t, root, stamp)
		run(t, nil, "", "dpkg", "--root="+root, "-r", "dt-credential-helper")
		// dpkg keeps its own bookkeeping (locks, the old status); nothing
		// else may be left or changed.
		after := tree(t, root)
		for path := range after {
			if _, ok := before[path]; !ok && !strings.HasPrefix(path, "var/lib/dpkg/") {
				t.Errorf("left behind by dpkg -r: %s", path)
			}
		}
		for path := range before {
			if _, ok := after[path]; !ok {
				t.Errorf("removed by dpkg -r: %s", path)
			}
		}
		if status := runStatus(t, "dpkg", "--root="+root, "-s", "dt-credential-helper"); status == 0 {
			t.Errorf("dpkg -s still knows dt-credential-helper after dpkg -r")
		}
	})
}

// useInstalled runs what the .deb installed under root, as a user would.
func useInstalled(t *testing.T, root, stamp string) {
	t.Helper()
	bin := filepath.Join(root, "usr", "bin")
	for _, prog := range []string{"dt-credential-helper", "dt-credential-helper-plugin"} {
		f, err := elf.Open(filepath.Join(bin, prog))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is linked dynamically: it names an interpreter", prog)
			}
		}
		f.Close()
	}
	idp := authtest.NewServer(authtest.Account{KeyID: "pkg-key", Email: "pkg@project.serviceaccount.d21s.com", Secret: "pkg-secret-Q2w9"})
	defer idp.Close()
	home := t.TempDir()
	env := []string{
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, "config"), "DT_CACHE_DIR=" + filepath.Join(home, "cache"),
		"DT_TOKEN_CACHE=file", "DT_TOKEN_ENDPOINT=" + idp.TokenURL(),
		"DT_SERVICE_ACCOUNT_KEY_ID=pkg-key", "DT_SERVICE_ACCOUNT_EMAIL=pkg@project.serviceaccount.d21s.com", "DT_SERVICE_ACCOUNT_SECRET=pkg-secret-Q2w9",
		"DT_CREDENTIAL_HOSTS=api.example.test",
		"MANPATH=" + filepath.Join(root, "usr", "share", "man"), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat",
	}
	// The program and the plugin's, of the build package.sh stamped.
	if v := run(t, env, "", "dt-credential-helper", "version"); !strings.HasPrefix(v, "dt-credential-helper "+stamp+" ") ||
		!strings.Contains(v, "\ndt-credential-helper-plugin "+stamp+" ") {
		t.Errorf("dt-credential-helper version, want build %s of both:\n%s", stamp, v)
	}
	// git runs git-credential-dt, found on PATH, for `git credential-dt`.
	cred := runIn(t, env, "", "protocol=https\nhost=api.example.test\n\n", "git", "credential-dt", "get")
	_, password, _ := strings.Cut(cred, "password=")
	if password, _, _ = strings.Cut(password, "\n"); !idp.Valid(password) {
		t.Errorf("git credential-dt get: no valid token of the emulator's in its answer (%d bytes)", len(cred))
	}
	if page := run(t, env, "", "man", "dt-credential-helper"); !strings.Contains(page, "dt-credential-helper - Disruptive Technologies access tokens") {
		t.Errorf("man dt-credential-helper:\n%.500s", page)
	}
	checkCompletions(t, root, env)
}

// checkCompletions loads each shell's completion from where the package put
// it, as the shell loads packaged ones, and checks that this machine's zsh
// and fish look in those directories.
func checkCompletions(t *testing.T, root string, env []string) {
	t.Helper()
	share := filepath.Join(root, "usr", "share")
	bashFile := filepath.Join(share, "bash-completion", "completions", "dt-credential-helper")
	if got := run(t, env, "", "bash", "--norc", "-c", `source "$1" && complete -p dt-credential-helper`, "bash", bashFile); !strings.Contains(got, "dt-credential-helper") {
		t.Errorf("bash: the packaged completion registers nothing: %q", got)
	}
	zshDir := filepath.Join(root, debZshDir)
	got := run(t, env, "", "zsh", "-f", "-c", `fpath=("$1" $fpath); autoload -Uz compinit && compinit -u -D && print -r -- "$_comps[dt-credential-helper]"`, "zsh", zshDir)
	if strings.TrimSpace(got) != "_dt-credential-helper" {
		t.Errorf("zsh: compinit finds %q for dt-credential-helper in %s, want _dt-credential-helper", got, zshDir)
	}
	if got := run(t, env, "", "zsh", "-f", "-c", `print -rl -- $fpath`); !slices.Contains(strings.Fields(got), debZshDir) {
		t.Errorf("this zsh does not read %s: its fpath is %q", debZshDir, got)
	}
	fishDir := filepath.Join(share, "fish", "vendor_completions.d")
	got = run(t, env, "", "fish", "--no-config", "-c", `set -p fish_complete_path $argv[1]; complete -C"dt-credential-helper comp"`, fishDir)
	if v, _, _ := strings.Cut(got, "\t"); v != "completion" {
		t.Errorf("fish: the packaged completion offers %q for comp, want completion", got)
	}
	if got := run(t, nil, "", "fish", "-c", `string join \n -- $fish_complete_path`); !slices.Contains(strings.Fields(got), "/usr/share/fish/vendor_completions.d") {
		t.Errorf("this fish does not read /usr/share/fish/vendor_completions.d: %q", got)
	}
}

// dpkgRoot returns a directory holding an empty dpkg database, for
// dpkg --root.
func dpkgRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	db := filepath.Join(root, "var", "lib", "dpkg")
	for _, d := range []string{"info", "updates"} {
		if err := os.MkdirAll(filepath.Join(db, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(db, "status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// tree lists every path under root, relative to it.
func tree(t *testing.T, root string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		out[filepath.ToSlash(rel)] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// run runs a command in dir ("" for this one) with env (nil: the test's
// own) added to the test's environment, and returns its stdout; it fails
// t when the command fails.
func run(t *testing.T, env []string, dir string, name string, args ...string) string {
	t.Helper()
	return runIn(t, env, dir, "", name, args...)
}

// runIn is run with stdin. With env given, name is looked up in its PATH,
// by env(1), as a shell would.
func runIn(t *testing.T, env []string, dir, stdin, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	if env != nil {
		cmd = exec.Command("env", append([]string{"--", name}, args...)...)
	}
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// runStatus runs a command and returns its exit status.
func runStatus(t *testing.T, name string, args ...string) int {
	t.Helper()
	cmd := exec.Command(name, args...)
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		t.Fatalf("%s: %v", name, err)
	}
	return 0
}
