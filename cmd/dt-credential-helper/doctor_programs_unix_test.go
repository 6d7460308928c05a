//go:build unix

package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/doctor"
)

// TestDoctorUntrustedPrograms: git, docker and kubectl wired to copies of
// the helper in a directory others can write, so that another user could
// put their own program in its place and be handed the token: each wiring
// check fails, naming the program, where it used to pass.
func TestDoctorUntrustedPrograms(t *testing.T) {
	kubectl := lookKubectl(t)
	t.Parallel()
	// Like a shared /tmp without the sticky bit: anyone may rename what is in it.
	open, err := os.MkdirTemp("", "dt-open-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(open) })
	for _, name := range []string{prog, gitHelperName, dockerHelperName} {
		copyProgram(t, binary, filepath.Join(open, name))
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	env := withEnv(gitEnv(t, "https://identity.invalid/oauth2/token"), "DOCKER_CONFIG="+t.TempDir(),
		"KUBECONFIG="+filepath.Join(t.TempDir(), "config"))
	env = withEnv(env, "PATH="+open+string(os.PathListSeparator)+envValue(env, "PATH"))
	for _, tool := range []string{"git", "docker"} {
		if r := runInProcess(t, env, "", "configure", tool); r.code != 0 {
			t.Fatalf("configure %s: exit %d: %s", tool, r.code, r.stderr)
		}
	}
	kubectlRun(t, kubectl, env, "config", "set-credentials", "planted", "--exec-api-version=client.authentication.k8s.io/v1",
		"--exec-command="+filepath.Join(open, prog), "--exec-arg=token")
	rep := wiringReport(t, env)
	wantCheck(t, rep, "git", "", doctor.Fail, "git runs "+filepath.Join(open, gitHelperName)+", which others could replace")
	wantCheck(t, rep, "docker", "", doctor.Fail, "docker runs "+filepath.Join(open, dockerHelperName)+", which others could replace")
	wantCheck(t, rep, "kubectl", "planted", doctor.Fail, "which others could replace", "install it where only you or root can write")
}

// copyProgram copies the program at from to a new file to, mode 0755.
func copyProgram(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestKubeconfigOthersCouldWrite: a kubeconfig that group or others can
// write (whoever can, chooses what kubectl runs for a token) fails doctor's
// kubectl check and is refused by configure kubectl, which changes nothing;
// made private, both go on.
func TestKubeconfigOthersCouldWrite(t *testing.T) {
	lookKubectl(t)
	t.Parallel()
	idp := authtest.NewServer(testAccount)
	t.Cleanup(idp.Close)
	env, kubeconfig := kubectlEnv(t, idp.TokenURL())
	if r := runInProcess(t, env, "", "configure", "kubectl"); r.code != 0 {
		t.Fatalf("configure kubectl: exit %d: %s", r.code, r.stderr)
	}
	if err := os.Chmod(kubeconfig, 0o666); err != nil {
		t.Fatal(err)
	}
	wantCheck(t, wiringReport(t, env), "kubectl", "", doctor.Fail, "the kubeconfig "+kubeconfig+" is not one only you could have written", "KUBECONFIG")
	before := mustRead(t, kubeconfig)
	r := runInProcess(t, env, "", "configure", "kubectl", "--user", "another")
	if r.code != exitUsage || !strings.Contains(r.stderr, "writable by group or others") || mustRead(t, kubeconfig) != before {
		t.Errorf("configure kubectl with a kubeconfig others can write: exit %d, stderr %q; want exit 2, the file unchanged", r.code, r.stderr)
	}
	if err := os.Chmod(kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	wantCheck(t, wiringReport(t, env), "kubectl", "dt", doctor.Pass, "runs "+prog+" token")
}
