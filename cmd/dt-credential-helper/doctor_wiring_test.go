package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/doctor"
)

// wiringReport runs doctor --offline -o json in-process with env: the
// wiring checks run the real git and kubectl and read docker's real
// configuration file, with env's PATH and configuration variables.
func wiringReport(t *testing.T, env []string) doctor.Report {
	t.Helper()
	return doctorReport(t, runInProcess(t, env, "", "doctor", "--offline", "-o", "json"))
}

// TestDoctorGit: git's configuration, written by the real git, read as
// git builds its helper list for each DT host: unwired warns; what
// configure writes passes; a helper for every host added after it warns
// that git would hand it the token; a helper naming an unknown profile, or
// git-credential-dt missing from PATH, fails.
func TestDoctorGit(t *testing.T) {
	gitBin, _ := lookGit(t)
	t.Parallel()
	env := gitEnv(t, "https://identity.invalid/oauth2/token")
	hosts := "api.disruptive-technologies.com, api.d21s.com, emulator.disruptive-technologies.com"

	wantCheck(t, wiringReport(t, env), "git", "", doctor.Warn, "not wired for "+hosts, "configure git")
	if r := runInProcess(t, env, "", "configure", "git"); r.code != 0 {
		t.Fatalf("configure git: exit %d: %s", r.code, r.stderr)
	}
	wantCheck(t, wiringReport(t, env), "git", "", doctor.Pass, `api.d21s.com ("dt")`)

	noLinks := withEnv(env, "PATH="+os.Getenv("PATH"))
	wantCheck(t, wiringReport(t, noLinks), "git", "", doctor.Fail, gitHelperName+", which is not on PATH")

	mustGit(t, gitBin, "", env, "config", "--global", "--add", "credential.helper", "store")
	wantCheck(t, wiringReport(t, env), "git", "", doctor.Warn, `also runs ["store"]`, "configure git")

	mustGit(t, gitBin, "", env, "config", "--global", "--unset-all", "credential.helper")
	mustGit(t, gitBin, "", env, "config", "--global", "--replace-all", "credential.https://api.d21s.com.helper", "dt --profile ghost")
	wantCheck(t, wiringReport(t, env), "git", "", doctor.Fail, `api.d21s.com ("dt --profile ghost")`, "ghost")
}

// TestDoctorDocker: docker's config.json, read as configure reads it and
// never created: none and no docker is skipped; what configure writes
// passes; another helper for a DT host, and credsStore "dt", warn; a file
// that is not JSON, and docker-credential-dt missing from PATH, fail.
func TestDoctorDocker(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	config := filepath.Join(dir, "config.json")
	env := withEnv(gitEnv(t, "https://identity.invalid/oauth2/token"), "DOCKER_CONFIG="+dir)
	links := envValue(env, "PATH")
	noDocker := withEnv(env, "PATH="+strings.SplitN(links, string(os.PathListSeparator), 2)[0])

	wantCheck(t, wiringReport(t, noDocker), "docker", "", doctor.Skip, "docker is not on PATH")
	if _, err := os.Stat(config); err == nil {
		t.Fatal("doctor created docker's configuration")
	}
	if r := runInProcess(t, env, "", "configure", "docker"); r.code != 0 {
		t.Fatalf("configure docker: exit %d: %s", r.code, r.stderr)
	}
	wantCheck(t, wiringReport(t, env), "docker", "", doctor.Pass, "wired for api.disruptive-technologies.com, api.d21s.com, emulator.disruptive-technologies.com")
	wantCheck(t, wiringReport(t, withEnv(env, "PATH="+os.Getenv("PATH"))), "docker", "", doctor.Fail, dockerHelperName+", which is not on PATH")

	// A host listed with https's own port: configure writes it as docker
	// names it (no :443), and doctor looks for it so.
	ported := withEnv(env, "DT_CREDENTIAL_HOSTS=reg.example.com:443,other.example.com:8443")
	if r := runInProcess(t, ported, "", "configure", "docker"); r.code != 0 {
		t.Fatalf("configure docker with ported hosts: exit %d: %s", r.code, r.stderr)
	}
	wantCheck(t, wiringReport(t, ported), "docker", "", doctor.Pass, "reg.example.com, other.example.com:8443")

	for name, tc := range map[string]struct {
		content string
		status  doctor.Status
		says    string
	}{
		"another helper": {`{"credHelpers":{"api.d21s.com":"ecr-login","api.disruptive-technologies.com":"dt"}}`, doctor.Warn, `api.d21s.com uses the helper "ecr-login"`},
		"credsStore dt":  {`{"credsStore":"dt","credHelpers":{"api.d21s.com":"dt"}}`, doctor.Warn, `credsStore is "dt"`},
		"not JSON":       {`{"credHelpers":`, doctor.Fail, "config.json"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			wantCheck(t, wiringReport(t, withEnv(env, "DOCKER_CONFIG="+dir)), "docker", "", tc.status, tc.says)
		})
	}
}

// TestDoctorKubectl: the kubeconfig as the real kubectl shows it: a user
// of other credentials only is not wired (a warning); the user configure
// writes passes; one naming an unknown profile, or a program not on PATH,
// fails; one with the secret in its exec environment warns, without
// showing it.
func TestDoctorKubectl(t *testing.T) {
	kubectl := lookKubectl(t)
	t.Parallel()
	idp := authtest.NewServer(testAccount)
	t.Cleanup(idp.Close)
	env, _ := kubectlEnv(t, idp.TokenURL())
	kube := func(args ...string) {
		t.Helper()
		cmd := exec.Command(kubectl, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kubectl %v: %v: %s", args, err, out)
		}
	}
	kube("config", "set-credentials", "other", "--token=not-ours")
	wantCheck(t, wiringReport(t, env), "kubectl", "", doctor.Warn, "no kubeconfig user runs "+prog, "configure kubectl")

	if r := runInProcess(t, env, "", "configure", "kubectl"); r.code != 0 {
		t.Fatalf("configure kubectl: exit %d: %s", r.code, r.stderr)
	}
	wantCheck(t, wiringReport(t, env), "kubectl", "dt", doctor.Pass, "runs "+prog+" token")
	wantCheck(t, wiringReport(t, withEnv(env, "PATH="+os.Getenv("PATH"))), "kubectl", "dt", doctor.Fail, "not found", "install it")

	kube("config", "set-credentials", "ghost", "--exec-api-version=client.authentication.k8s.io/v1", "--exec-command="+prog,
		"--exec-arg=token", "--exec-arg=--profile", "--exec-arg=ghost")
	wantCheck(t, wiringReport(t, env), "kubectl", "ghost", doctor.Fail, "ghost", "log in")

	kube("config", "set-credentials", "leaky", "--exec-api-version=client.authentication.k8s.io/v1", "--exec-command="+prog,
		"--exec-arg=token", "--exec-env=DT_SERVICE_ACCOUNT_SECRET="+testSecret)
	wantCheck(t, wiringReport(t, env), "kubectl", "leaky", doctor.Warn, "DT_SERVICE_ACCOUNT_SECRET in the kubeconfig", "profile")

	kube("config", "set-credentials", "elsewhere", "--exec-api-version=client.authentication.k8s.io/v1", "--exec-command="+prog,
		"--exec-arg=token", "--exec-env=DT_TOKEN_ENDPOINT=http://evil.example/oauth2/token", "--exec-env=HTTPS_PROXY=http://proxy.example:3128")
	c := wantCheck(t, wiringReport(t, env), "kubectl", "elsewhere", doctor.Warn, "DT_TOKEN_ENDPOINT set in the kubeconfig's exec environment",
		"kubectl config set-credentials elsewhere --exec-env=DT_TOKEN_ENDPOINT-")
	if strings.Contains(c.Detail+c.Fix, "evil.example") || strings.Contains(c.Detail+c.Fix, "HTTPS_PROXY") {
		t.Errorf("the check quotes a value, or names a variable that is not the helper's: %+v", c)
	}
}
