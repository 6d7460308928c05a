package testutil

import (
	_ "embed"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// userSettings lists the environment variables that are a user's own
// settings, as globs; scripts/private-env.sh reads the same file.
//
//go:embed usersettings.txt
var userSettings string

// envPrivateDir names the private directory RunIsolated made. A test
// process that inherits it together with the HOME inside it (a child a
// test starts with os.Environ()) keeps its parent's private directories.
// It is a test knob's name (DT_TEST_*), which clearing the user's settings
// keeps.
const envPrivateDir = "DT_TEST_PRIVATE_DIR"

// IsUserSetting reports whether the environment variable name is one of a
// user's own settings (usersettings.txt), which tests never see.
func IsUserSetting(name string) bool {
	match, keep := false, false
	for line := range strings.Lines(userSettings) {
		pattern := strings.TrimSpace(line)
		if pattern == "" || strings.HasPrefix(pattern, "#") {
			continue
		}
		if p, ok := strings.CutPrefix(pattern, "!"); ok {
			keep = keep || globMatch(p, name)
		} else {
			match = match || globMatch(pattern, name)
		}
	}
	return match && !keep
}

func globMatch(pattern, name string) bool {
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}

// RunIsolated runs the tests of m in a private environment (see Isolate)
// and returns their exit code, for a package's TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testutil.RunIsolated(m)) }
//
// Every test package of the module has one (TestEveryTestPackageIsolated),
// so that `go test ./...` run by hand from any shell never reads or changes
// the user's own settings, profiles, caches or keyring session.
func RunIsolated(m *testing.M) int {
	cleanup, err := Isolate()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testutil:", err)
		return 1
	}
	defer cleanup()
	return m.Run()
}

// Isolate gives this process a private environment: every user setting
// (IsUserSetting) unset; HOME, XDG_CONFIG_HOME, XDG_CACHE_HOME,
// XDG_DATA_HOME, XDG_STATE_HOME and XDG_RUNTIME_DIR (and on Windows
// USERPROFILE, APPDATA and LOCALAPPDATA) in a new private directory that
// cleanup removes; and, unless DT_TEST_SECRET_SERVICE=1 says
// scripts/keyring-session.sh made a private D-Bus session, a session bus
// address where there is no bus, so the Secret Service store never finds
// the user's own (it would fall back to /run/user/UID/bus).
//
// Go's own build and module caches, GOPATH and settings file stay where
// they were, pinned by their absolute paths: tests that run the go command
// use the caches the test binary was built with.
func Isolate() (cleanup func(), err error) {
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if IsUserSetting(name) {
			os.Unsetenv(name)
		}
	}
	if d := os.Getenv(envPrivateDir); d != "" && os.Getenv("HOME") == filepath.Join(d, "home") {
		return func() {}, nil
	}
	if err := pinGoEnv(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "dt-test-env-")
	if err != nil {
		return nil, err
	}
	cleanup = func() { removeAll(dir) }
	vars := [][2]string{
		{"HOME", "home"}, {"XDG_CONFIG_HOME", "config"}, {"XDG_CACHE_HOME", "cache"},
		{"XDG_DATA_HOME", "data"}, {"XDG_STATE_HOME", "state"}, {"XDG_RUNTIME_DIR", "run"},
	}
	if runtime.GOOS == "windows" {
		vars = append(vars, [2]string{"USERPROFILE", "home"}, [2]string{"APPDATA", "config"}, [2]string{"LOCALAPPDATA", "cache"})
	}
	for _, v := range vars {
		p := filepath.Join(dir, v[1])
		if err := os.MkdirAll(p, 0o700); err != nil {
			cleanup()
			return nil, err
		}
		os.Setenv(v[0], p)
	}
	if os.Getenv("DT_TEST_SECRET_SERVICE") != "1" {
		os.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(dir, "run", "no-bus"))
	}
	os.Setenv(envPrivateDir, dir)
	return cleanup, nil
}

// pinGoEnv sets GOCACHE, GOMODCACHE, GOPATH and GOENV to what the go
// command on PATH uses now, before HOME and the XDG directories move. Without
// go on PATH no test can run it, and nothing is pinned.
func pinGoEnv() error {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return nil
	}
	names := []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOENV"}
	out, err := exec.Command(goCmd, append([]string{"env"}, names...)...).Output()
	if err != nil {
		return fmt.Errorf("go env: %w", err)
	}
	values := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(values) != len(names) {
		return fmt.Errorf("go env %s printed %q", strings.Join(names, " "), out)
	}
	for i, name := range names {
		if values[i] != "" {
			os.Setenv(name, values[i])
		}
	}
	return nil
}

// removeAll removes dir, making directories a test left without write or
// search permission writable first, as t.TempDir's cleanup does.
func removeAll(dir string) {
	if os.RemoveAll(dir) == nil {
		return
	}
	// WalkDir calls fn for a directory before it reads it.
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, _ error) error {
		if d != nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	_ = os.RemoveAll(dir)
}
