package keyring_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// A Go program opens the token cache the dt-credential-helper command uses
// and is served the token the command fetched: here the real command,
// built from this module, against the DT identity emulator (a stand-in
// for DT's token endpoint), both caching in files in one private cache
// directory, so that the example stays out of your keyrings. Leave Mode
// empty for the command's default, auto.
func ExampleOpenLocation() {
	env, cleanup := commandEnvironment() // what both see: the service account, the cache
	defer cleanup()
	getenv := func(name string) string { return env[name] }
	creds, err := auth.Resolve(auth.Settings{}, getenv)
	if err != nil {
		fmt.Println(err)
		return
	}
	fromCommand, err := runTheCommand(env) // dt-credential-helper token -o token
	if err != nil {
		fmt.Println(err)
		return
	}

	// The Go program's side: the command's cache, and the account, asking
	// with the same secret the command used.
	loc, err := keyring.OpenLocation(keyring.LocationConfig{Mode: keyring.ModeFile, Getenv: getenv})
	if err != nil {
		fmt.Println(err)
		return
	}
	acct := keyring.Account{Endpoint: creds.TokenEndpoint, KeyID: creds.KeyID, Email: creds.Email}
	acct.Identity = keyring.NewIdentity(acct.Key(), creds.Secret)
	src, err := auth.NewSource(creds)
	if err != nil {
		fmt.Println(err)
		return
	}
	cache := keyring.NewCache(src, keyring.CacheConfig{Location: loc, Account: acct})
	tok, err := cache.TokenContext(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("served the command's token:", tok.AccessToken == fromCommand)
	fmt.Println("token requests to the identity service:", emulator.Requests())

	// Logout's clean-up: the account's tokens go from every store.
	if err := keyring.Forget(context.Background(), keyring.LocationConfig{Getenv: getenv}, acct); err != nil {
		fmt.Println(err)
	}
	_, err = keyring.NewCache(nil, keyring.CacheConfig{Location: loc, Account: acct}).Cached(context.Background())
	fmt.Println("cached after Forget:", err == nil)
	// Output:
	// served the command's token: true
	// token requests to the identity service: 1
	// cached after Forget: false
}

// emulator is the identity service the example's command asks.
var emulator *authtest.Server

// commandEnvironment starts the emulator with a service account and returns
// an environment naming it and a private cache directory, and nothing of
// the user's own settings; cleanup stops the emulator and removes the
// directory.
func commandEnvironment() (env map[string]string, cleanup func()) {
	acct := authtest.Account{KeyID: "example-key", Email: "example@sa.example.test", Secret: "example-secret-not-a-real-one"}
	emulator = authtest.NewServer(acct)
	home, err := os.MkdirTemp("", "keyring-example-")
	if err != nil {
		panic(err)
	}
	cleanup = func() {
		emulator.Close()
		os.RemoveAll(home)
	}
	return map[string]string{
		"PATH":                      os.Getenv("PATH"),
		"HOME":                      home,
		"DT_CACHE_DIR":              filepath.Join(home, "cache"),
		"DT_TOKEN_CACHE":            "file",
		"DT_SERVICE_ACCOUNT_KEY_ID": acct.KeyID,
		"DT_SERVICE_ACCOUNT_EMAIL":  acct.Email,
		"DT_SERVICE_ACCOUNT_SECRET": acct.Secret,
		"DT_TOKEN_ENDPOINT":         emulator.TokenURL(),
	}, cleanup
}

// runTheCommand builds dt-credential-helper and runs `token -o token` in
// env, returning the token it printed.
func runTheCommand(env map[string]string) (string, error) {
	bin := filepath.Join(env["HOME"], "bin")
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "../cmd/dt-credential-helper", "../cmd/dt-credential-helper-plugin")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the command: %v\n%s", err, out)
	}
	name := "dt-credential-helper"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	cmd := exec.Command(filepath.Join(bin, name), "token", "-o", "token")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("dt-credential-helper token: %v: %s", err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}
