package vaultenv

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// MaxCredentialFile bounds how much of a JWT or Vault token file is read;
// real ones are a few KiB.
const MaxCredentialFile = 64 << 10

// TokenFile reads the Vault token `vault login` leaves in ~/.vault-token,
// the home directory found from getenv as os.UserHomeDir finds it. The
// file holds a secret, so it is trusted only as a private file of the
// user's (privatefile's rule for secrets: a regular file of ours, opened
// without following a symlink or blocking on a FIFO, that group and others
// cannot read or write). Both readers use it: the Vault client when
// VAULT_TOKEN is unset, and the helper, which works out from it who reads
// Vault (the identity its cache entries record) without starting the
// client. The errors say why there is no token and what to do; they never
// quote the file.
func TokenFile(getenv func(string) string) (string, error) {
	home := homeDir(getenv)
	if home == "" {
		return "", errors.New("no Vault token: set VAULT_TOKEN, run `vault login`, or log in with a JWT")
	}
	path := filepath.Join(home, ".vault-token")
	owner := -1
	data, err := privatefile.ReadFile(path, MaxCredentialFile, func(path string, mode fs.FileMode, uid int) error {
		owner = uid
		return privatefile.Check(path, mode, uid)
	})
	var pe *privatefile.PermissionError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", errors.New("no Vault token: set VAULT_TOKEN, run `vault login` (which writes " + path + "), or log in with a JWT")
	case errors.As(err, &pe) && owner == os.Geteuid() && pe.Mode.IsRegular():
		return "", fmt.Errorf("the Vault token file is not trusted: %w: chmod 600 %s", err, path)
	case errors.As(err, &pe):
		return "", fmt.Errorf("the Vault token file is not trusted: %w: remove it and run `vault login`, or set VAULT_TOKEN", err)
	case err != nil:
		return "", fmt.Errorf("reading the Vault token: %w", err)
	case len(data) > MaxCredentialFile:
		return "", fmt.Errorf("the Vault token file %s is larger than %d bytes", path, MaxCredentialFile)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("no Vault token: %s is empty", path)
	}
	return tok, nil
}

// homeDir is the home directory as os.UserHomeDir finds it, from getenv.
func homeDir(getenv func(string) string) string {
	switch runtime.GOOS {
	case "windows":
		return getenv("USERPROFILE")
	case "plan9":
		return getenv("home")
	}
	return getenv("HOME")
}

// ReadJWT reads the JWT a login presents, from path: at most
// MaxCredentialFile bytes of a regular file, trimmed of white space. It
// follows a symlink, as a Kubernetes projected token is one, but does not
// block on a FIFO planted under the name. Its errors name the file and
// never quote its content. Both readers use it: the Vault client at each
// login, and the helper, which works out from the JWT's claims who reads
// Vault.
func ReadJWT(path string) (string, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openNonBlocking, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return "", err
	} else if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxCredentialFile+1))
	if err != nil {
		return "", err
	}
	if len(data) > MaxCredentialFile {
		return "", fmt.Errorf("%s is larger than %d bytes", path, MaxCredentialFile)
	}
	return strings.TrimSpace(string(data)), nil
}
