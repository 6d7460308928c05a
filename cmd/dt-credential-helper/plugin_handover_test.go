//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
)

// These tests look at the hand-over from dt-credential-helper, which hosts
// launch, to dt-credential-helper-plugin, which serves them: the same
// process, and only a program next to the helper that nobody else could
// have put or changed there.

// TestPluginHandsOver: launched as a host launches it, the helper becomes
// the plugin's program in the same process (execve, not a child): the
// process the host started runs dt-credential-helper-plugin, with the
// host's arguments and environment.
func TestPluginHandsOver(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	want := filepath.Join(binDir, pluginProg)
	for _, args := range [][]string{{}, {"plugin", "--verbose"}} {
		t.Run(strings.Join(append([]string{"args"}, args...), " "), func(t *testing.T) {
			env := pluginEnv(t, idp.TokenURL())
			p := startPluginProc(t, env, args...)
			if line := p.handshake(t); !handshakeLine.MatchString(line) {
				t.Fatalf("first stdout line %q is not go-plugin's gRPC handshake", line)
			}
			pid := strconv.Itoa(p.cmd.Process.Pid)
			exe, err := os.Readlink("/proc/" + pid + "/exe")
			if err != nil {
				t.Fatal(err)
			}
			if exe != want {
				t.Errorf("the process the host started (pid %s) runs %s, want %s", pid, exe, want)
			}
			cmdline, err := os.ReadFile("/proc/" + pid + "/cmdline")
			if err != nil {
				t.Fatal(err)
			}
			argv := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
			if !slices.Equal(argv[1:], args) {
				t.Errorf("the plugin's program got arguments %q, want the host's %q", argv[1:], args)
			}
			environ, err := os.ReadFile("/proc/" + pid + "/environ")
			if err != nil {
				t.Fatal(err)
			}
			// Only names and non-secret values are compared, so a failure
			// shows no secret.
			got := strings.Split(string(environ), "\x00")
			for _, kv := range []string{"DT_TOKEN_ENDPOINT=" + idp.TokenURL(), pluginCookieKey + "=" + pluginCookieValue, "PLUGIN_PROTOCOL_VERSIONS=1"} {
				if !slices.Contains(got, kv) {
					t.Errorf("the plugin's environment lacks %s", kv)
				}
			}
			if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "DT_SERVICE_ACCOUNT_SECRET=") }) {
				t.Error("the plugin's environment lacks DT_SERVICE_ACCOUNT_SECRET")
			}
		})
	}
}

// installTo copies the helper, and the plugin's program unless withPlugin is
// false, into a new directory, as an install would lay them out.
func installTo(t *testing.T, withPlugin bool) (dir string) {
	t.Helper()
	dir = t.TempDir()
	copyFile(t, binary, filepath.Join(dir, prog), 0o755)
	if withPlugin {
		copyFile(t, filepath.Join(binDir, pluginProg), filepath.Join(dir, pluginProg), 0o755)
	}
	return dir
}

// TestPluginProgramMissing: a helper installed without the plugin's program
// says so, in one line, and exits 1 when a host launches it; every other
// command works without it.
func TestPluginProgramMissing(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	helper := filepath.Join(installTo(t, false), prog)
	env := withEnv(pluginEnv(t, idp.TokenURL()), pluginCookieKey+"="+pluginCookieValue, "PLUGIN_PROTOCOL_VERSIONS=1")
	for _, args := range [][]string{{}, {"plugin"}} {
		r := runPathFor(t, helper, runLimit, env, "", args...)
		if r.code != 1 || r.stdout != "" {
			t.Errorf("%q: exit %d, stdout %q; want exit 1, no stdout", args, r.code, r.stdout)
		}
		oneStderrLine(t, r.stderr, pluginProg, filepath.Join(filepath.Dir(helper), pluginProg), "not there", "install")
	}
	r := runPathFor(t, helper, runLimit, env, "", "token", "-o", "token")
	if r.code != 0 || !idp.Valid(strings.TrimSpace(r.stdout)) {
		t.Errorf("token without the plugin's program: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestPluginProgramUntrusted: the helper hands the host's environment,
// secret included, to the program next to it; it refuses one that others
// could have written or swapped, with why, and exits 1 without running it.
func TestPluginProgramUntrusted(t *testing.T) {
	idp := authtest.NewServer(testAccount)
	defer idp.Close()
	env := withEnv(pluginEnv(t, idp.TokenURL()), pluginCookieKey+"="+pluginCookieValue, "PLUGIN_PROTOCOL_VERSIONS=1")
	tests := []struct {
		name  string
		root  bool // needs root, to give the file away
		spoil func(t *testing.T, path string)
		why   string
	}{
		{name: "group-writable", spoil: func(t *testing.T, path string) { chmod(t, path, 0o775) }, why: "writable by group or others"},
		{name: "world-writable", spoil: func(t *testing.T, path string) { chmod(t, path, 0o757) }, why: "writable by group or others"},
		{name: "owned by nobody", root: true, spoil: func(t *testing.T, path string) {
			if err := os.Chown(path, nobody, nobody); err != nil {
				t.Fatal(err)
			}
		}, why: "owned by uid 65534"},
		{name: "symlink", spoil: func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(binDir, pluginProg), path); err != nil {
				t.Fatal(err)
			}
		}, why: "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root && os.Geteuid() != 0 {
				t.Skip("giving a file to another user needs root")
			}
			dir := installTo(t, true)
			tt.spoil(t, filepath.Join(dir, pluginProg))
			r := runPathFor(t, filepath.Join(dir, prog), runLimit, env, "", "plugin")
			if r.code != 1 || r.stdout != "" {
				t.Errorf("exit %d, stdout %q; want exit 1, no stdout", r.code, r.stdout)
			}
			oneStderrLine(t, r.stderr, "refusing to run "+filepath.Join(dir, pluginProg), tt.why)
		})
	}
	// The same layout, left as installed, serves: the refusals above are
	// the spoiling's doing.
	t.Run("as installed", func(t *testing.T) {
		p := startPluginCmd(t, exec.Command(filepath.Join(installTo(t, true), prog), "plugin"), env)
		if line := p.handshake(t); !handshakeLine.MatchString(line) {
			t.Errorf("first stdout line %q is not go-plugin's gRPC handshake", line)
		}
	})
	if n := idp.Requests(); n != 0 {
		t.Errorf("%d token requests, want 0", n)
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// TestPluginProgramByHand: the plugin's program, run by hand, refuses as
// the helper's plugin command does.
func TestPluginProgramByHand(t *testing.T) {
	env := pluginEnv(t, "http://127.0.0.1:1/oauth2/token") // never reached
	r := runPathFor(t, filepath.Join(binDir, pluginProg), runLimit, env, "", "plugin")
	if r.code != 1 || r.stdout != "" {
		t.Errorf("exit %d, stdout %q; want exit 1, no stdout", r.code, r.stdout)
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, pluginProg+": ") || !strings.Contains(r.stderr, "not meant to be run by hand") {
		t.Errorf("stderr %q: want one %q line saying it is not meant to be run by hand", r.stderr, pluginProg+": ...")
	}
}
