package testutil

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(RunIsolated(m)) }

const importPath = "github.com/dt-credential-helper/dt-credential-helper/internal/testutil"

// TestOnlyTestsImport fails if any non-test Go file of the module imports
// this package.
func TestOnlyTestsImport(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == importPath {
				t.Errorf("%s imports %s; only _test.go files may", path, importPath)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBufferConcurrent(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				b.Write([]byte("x"))
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if got := len(b.String()); got != 800 {
		t.Errorf("len = %d, want 800", got)
	}
}

// TestEveryTestPackageIsolated: every directory of the module with tests has
// a TestMain, built on every platform, that calls RunIsolated, so no test of
// any package sees the user's settings, whoever runs go test from whatever
// shell.
func TestEveryTestPackageIsolated(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	tests := map[string]bool{}    // directories with test files
	isolated := map[string]bool{} // directories whose TestMain calls RunIsolated
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			// Another module (scripts/bench/peers) cannot import ours.
			if _, err := os.Stat(filepath.Join(path, "go.mod")); path != root && err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		dir := filepath.Dir(path)
		tests[dir] = true
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || fn.Name.Name != "TestMain" || !callsRunIsolated(fn.Body) {
				continue
			}
			for _, goos := range []string{"linux", "darwin", "windows"} {
				ctx := build.Default
				ctx.GOOS = goos
				if ok, err := ctx.MatchFile(dir, filepath.Base(path)); err != nil || !ok {
					t.Errorf("%s: its TestMain is not built for GOOS=%s", path, goos)
				}
			}
			isolated[dir] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(tests) < 10 {
		t.Fatalf("found tests in only %d directories: is the walk broken?", len(tests))
	}
	for dir := range tests {
		if !isolated[dir] {
			t.Errorf("%s has tests but no TestMain calling testutil.RunIsolated", dir)
		}
	}
}

// callsRunIsolated reports whether body calls RunIsolated, qualified or not.
func callsRunIsolated(body *ast.BlockStmt) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		switch fun := call.Fun.(type) {
		case *ast.Ident:
			found = found || fun.Name == "RunIsolated"
		case *ast.SelectorExpr:
			found = found || fun.Sel.Name == "RunIsolated"
		}
		return true
	})
	return found
}

const envIsolationChild = "DT_TEST_ISOLATION_CHILD"

// TestIsolatedChild prints its environment when TestRunIsolated runs it in
// a child; otherwise it does nothing.
func TestIsolatedChild(t *testing.T) {
	if os.Getenv(envIsolationChild) != "1" {
		t.Skip("run by TestRunIsolated")
	}
	os.Stdout.WriteString(strings.Join(os.Environ(), "\x00"))
}

// TestRunIsolated runs this test binary from a hostile shell: the user's
// profile, endpoint, Vault, proxy and kubeconfig settings, HOME and XDG
// directories of the user's, and the user's session bus. The child's tests
// see none of them.
func TestRunIsolated(t *testing.T) {
	userHome := t.TempDir()
	hostile := map[string]string{
		"DT_PROFILE":                  "prod",
		"DT_TOKEN_ENDPOINT":           "https://identity.example.com/oauth2/token",
		"DT_SERVICE_ACCOUNT_SECRET":   "users-secret",
		"DT_TOKEN_CACHE":              "keyring",
		"DT_CREDENTIAL_HELPER_PLUGIN": "dt-token-provider",
		"VAULT_ADDR":                  "https://vault.example.com:8200",
		"VAULT_TOKEN":                 "users-vault-token",
		"BAO_ADDR":                    "https://bao.example.com:8200",
		"HTTPS_PROXY":                 "http://proxy.example.com:3128",
		"https_proxy":                 "http://proxy.example.com:3128",
		"HTTP_PROXY":                  "http://proxy.example.com:3128",
		"NO_PROXY":                    "example.com",
		"ALL_PROXY":                   "socks5://proxy.example.com",
		"SSL_CERT_FILE":               "/nonexistent.pem",
		"KUBECONFIG":                  filepath.Join(userHome, "kubeconfig"),
		"KUBERNETES_EXEC_INFO":        `{"kind":"ExecCredential"}`,
		"DOCKER_CONFIG":               filepath.Join(userHome, "docker"),
		"GIT_CONFIG_GLOBAL":           filepath.Join(userHome, "gitconfig"),
		"HOME":                        userHome,
		"XDG_CONFIG_HOME":             filepath.Join(userHome, "config"),
		"XDG_CACHE_HOME":              filepath.Join(userHome, "cache"),
		"XDG_DATA_HOME":               filepath.Join(userHome, "data"),
		"XDG_RUNTIME_DIR":             filepath.Join(userHome, "run"),
		"DBUS_SESSION_BUS_ADDRESS":    "unix:path=" + filepath.Join(userHome, "bus"),
	}
	env := []string{envIsolationChild + "=1", "DT_TEST_GIT_DIR=/opt/git", "PATH=" + os.Getenv("PATH"), "GOCACHE=" + os.Getenv("GOCACHE")}
	for k, v := range hostile {
		env = append(env, k+"="+v)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestIsolatedChild$", "-test.count=1")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(string(out), "PASS\n"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	for k, v := range hostile {
		if g, ok := got[k]; ok && (g == v || strings.HasPrefix(g, userHome)) {
			t.Errorf("the child's tests see %s=%s", k, g)
		}
	}
	private := got[envPrivateDir]
	if private == "" {
		t.Fatalf("the child has no %s", envPrivateDir)
	}
	for _, k := range []string{"HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"} {
		if !strings.HasPrefix(got[k], private+string(filepath.Separator)) {
			t.Errorf("the child's %s=%q is not in its private directory %s", k, got[k], private)
		}
	}
	if !strings.Contains(got["DBUS_SESSION_BUS_ADDRESS"], private) {
		t.Errorf("the child's session bus %q is not a dead one in its private directory", got["DBUS_SESSION_BUS_ADDRESS"])
	}
	if got["DT_TEST_GIT_DIR"] != "/opt/git" {
		t.Errorf("the child lost the DT_TEST_GIT_DIR knob: %q", got["DT_TEST_GIT_DIR"])
	}
	// Go's caches and GOPATH stay where the shell's go command has them:
	// as set, or by default under the shell's HOME.
	if got["GOCACHE"] != os.Getenv("GOCACHE") {
		t.Errorf("the child's GOCACHE=%q, want the shell's %q", got["GOCACHE"], os.Getenv("GOCACHE"))
	}
	if want := filepath.Join(userHome, "go"); got["GOPATH"] != want {
		t.Errorf("the child's GOPATH=%q, want the shell's default %q", got["GOPATH"], want)
	}
	if _, err := os.Stat(private); err == nil {
		t.Errorf("the child left its private directory %s behind", private)
	}
}

func TestIsUserSetting(t *testing.T) {
	for _, name := range []string{"DT_PROFILE", "DT_X", "VAULT_TOKEN", "BAO_ADDR", "HTTPS_PROXY", "no_proxy", "all_proxy", "GIT_CONFIG_GLOBAL"} {
		if !IsUserSetting(name) {
			t.Errorf("IsUserSetting(%s) = false", name)
		}
	}
	for _, name := range []string{"DT_TEST_BAO", "DT_TEST_SECRET_SERVICE", "DT_KEYRING_TEST_LOCK_CHILD", "DT_KEYRINGTEST_DENY_KEYCTL", "DT_PLUGIN_TEST_BY_HAND", "PATH", "GOFLAGS", "TMPDIR", "DTX", "MY_DT_PROFILE"} {
		if IsUserSetting(name) {
			t.Errorf("IsUserSetting(%s) = true", name)
		}
	}
}
