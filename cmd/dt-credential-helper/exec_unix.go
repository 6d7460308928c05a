//go:build unix

package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// execAbout is what exec --help says about signals and the exit status.
const execAbout = `The helper replaces itself with the command (execve), so the command has
the helper's process id, stdin, stdout and stderr, gets every signal sent
to that process, and its exit status is the command's own; no process of
the helper stays behind holding the service account secret. The status is
127 when the command cannot be found (no token is fetched then).`

// execCommand replaces the helper with the command. Nothing of the helper
// survives the exec: not the secret in its memory or environment, nor a
// process the command's signals would have to be forwarded through.
func execCommand(e env, path string, argv, envv []string) error {
	if e.execve == nil {
		return fmt.Errorf("exec: %s: no way to run it (env.execve is not set)", argv[0])
	}
	err := e.execve(path, argv, envv)
	return fmt.Errorf("exec: %s: %w", argv[0], err)
}

// lookPath finds file as a shell would, in pathList (the PATH of the
// environment exec was given), and refuses a match found through a relative
// PATH entry, as exec.LookPath does.
func lookPath(file, pathList string) (string, error) {
	if strings.Contains(file, "/") {
		if err := executable(file); err != nil {
			return "", fmt.Errorf("%s: %w", file, err)
		}
		return file, nil
	}
	for _, dir := range filepath.SplitList(pathList) {
		if dir == "" {
			dir = "." // an empty entry means the current directory
		}
		path := filepath.Join(dir, file)
		if executable(path) != nil {
			continue
		}
		if !filepath.IsAbs(path) {
			return "", fmt.Errorf("%q found only through the relative PATH entry %q; give its path to run it", file, dir)
		}
		return path, nil
	}
	return "", fmt.Errorf("%q: command not found in PATH", file)
}

// executable reports why path is not a file that may be executed, or nil.
func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fs.ErrPermission
	}
	return nil
}
