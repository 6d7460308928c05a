package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/dockerconfig"
	"github.com/dt-credential-helper/dt-credential-helper/internal/doctor"
	"github.com/dt-credential-helper/dt-credential-helper/internal/hosts"
	"github.com/dt-credential-helper/dt-credential-helper/internal/sibling"
)

// checkWiring checks whether git, docker and kubectl are wired to this
// helper for the hosts it serves, reading their configuration as they do
// (git config, docker's config.json, kubectl config view) and writing
// nothing: configure writes it. A tool that is not wired is a warning (it
// may not be used here); wiring that cannot work is a failure.
func (d *doctorRun) checkWiring(ctx context.Context) {
	routes := hosts.DefaultRoutes()
	if set, err := hostSet(d.e, d.profiles); err == nil {
		routes = set.Routes()
	}
	d.checkGit(ctx, routes)
	d.checkDocker(routes)
	d.checkKubectl(ctx)
}

// checkDocker checks docker's config.json (docker's own rule for finding
// it: dockerconfig.Path) for credHelpers naming "dt" for each host, read
// as configure reads it but never created or written.
func (d *doctorRun) checkDocker(routes []hosts.Route) {
	const fix = "run '" + prog + " configure docker'"
	path, err := dockerconfig.Path(d.e.getenv)
	if err != nil {
		d.add("docker", "", doctor.Skip, oneLine(err), "")
		return
	}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		if _, err := lookPath("docker", d.e.getenv("PATH")); err != nil {
			d.add("docker", "", doctor.Skip, "docker is not on PATH, and there is no "+path, "")
			return
		}
		d.add("docker", "", doctor.Warn, "no "+path+": docker-style tools get no token from this helper", fix)
		return
	}
	f, err := dockerconfig.Load(path)
	if err != nil {
		d.add("docker", "", doctor.Fail, oneLine(err), "correct the file (it must be JSON, a regular file of yours that others cannot write), or move it away and configure again")
		return
	}
	var wired, unwired, problems []string
	status := doctor.Pass
	for _, r := range routes {
		host := r.HTTPSServer() // as configure writes it, and docker asks
		switch helper, ok := f.Helper(host); {
		case ok && helper == "dt":
			wired = append(wired, host)
		case ok:
			problems = append(problems, fmt.Sprintf("%s uses the helper %q", host, helper))
			status = doctor.Worse(status, doctor.Warn)
		default:
			unwired = append(unwired, host)
		}
	}
	if len(wired) > 0 {
		if msg := d.programProblem("docker", dockerHelperName); msg != "" {
			problems = append(problems, msg)
			status = doctor.Fail
		}
	}
	if f.CredsStore == "dt" {
		problems = append(problems, `credsStore is "dt": every registry's logins go to this helper, which refuses to keep them (remove credsStore, or set your own store)`)
		status = doctor.Worse(status, doctor.Warn)
	}
	d.reportWiring("docker", status, wired, unwired, problems, fix)
}

// checkKubectl checks the kubeconfig kubectl reads for users whose exec
// plugin is this helper, and that each can work: its program on PATH, the
// profile it names a profile. No such user is a warning; a secret in a
// user's exec environment is one too (the kubeconfig is not a secret's
// place: a profile is).
func (d *doctorRun) checkKubectl(ctx context.Context) {
	kubectl, err := lookPath("kubectl", d.e.getenv("PATH"))
	if err != nil {
		d.add("kubectl", "", doctor.Skip, "kubectl is not on PATH", "")
		return
	}
	if err := checkKubeconfigs(d.e, ""); err != nil {
		d.add("kubectl", "", doctor.Fail, oneLine(err),
			"keep your kubeconfig in a file of yours that group and others cannot write, in directories only you or root can change (KUBECONFIG names it)")
		return
	}
	users, err := kubeconfigUsers(ctx, d.e, kubectl, nil)
	if err != nil {
		d.add("kubectl", "", doctor.Fail, oneLine(err), "correct the kubeconfig (KUBECONFIG, else ~/.kube/config)")
		return
	}
	if len(users) == 0 {
		d.add("kubectl", "", doctor.Skip, "the kubeconfig has no users", "")
		return
	}
	found := false
	for _, u := range users {
		if x := u.Exec; x != nil && filepath.Base(x.Command) == prog {
			found = true
			d.kubectlUserCheck(u)
		}
	}
	if !found {
		d.add("kubectl", "", doctor.Warn, "no kubeconfig user runs "+prog, "run '"+prog+" configure kubectl', then use its user in a context")
	}
}

// settingsIn returns the entries of env that are the helper's or Vault's
// settings (DT_*, VAULT_*).
func settingsIn(env []kubectlEnvVar) []kubectlEnvVar {
	var out []kubectlEnvVar
	for _, v := range env {
		if n := strings.ToUpper(v.Name); strings.HasPrefix(n, "DT_") || strings.HasPrefix(n, "VAULT_") {
			out = append(out, v)
		}
	}
	return out
}

// kubectlUserCheck checks one kubeconfig user that runs this helper.
func (d *doctorRun) kubectlUserCheck(u kubeconfigUser) {
	x := u.Exec
	runs := strings.TrimSpace(x.Command + " " + strings.Join(x.Args, " "))
	if path, err := lookPath(x.Command, d.e.getenv("PATH")); err != nil {
		d.add("kubectl", u.Name, doctor.Fail, "runs "+runs+", but "+oneLine(err), "install it (scripts/install.sh), or name it by its path")
		return
	} else if err := sibling.Program(path); err != nil {
		d.add("kubectl", u.Name, doctor.Fail, "runs "+runs+", which others could replace: "+oneLine(err),
			"install it where only you or root can write (scripts/install.sh), and name that one")
		return
	}
	if name := profileArg(x.Args); name != "" {
		if _, err := d.profiles.Account(name); err != nil {
			d.add("kubectl", u.Name, doctor.Fail, "runs "+runs+": "+oneLine(err), "log in to that profile, or run '"+prog+" configure kubectl' with another")
			return
		}
	}
	if slices.ContainsFunc(x.Env, func(v kubectlEnvVar) bool { return strings.EqualFold(v.Name, auth.EnvSecret) }) {
		d.add("kubectl", u.Name, doctor.Warn, "runs "+runs+" with "+auth.EnvSecret+" in the kubeconfig, where whoever reads the file finds it",
			"keep the secret in a profile ('"+prog+" login') and remove it from the kubeconfig")
		return
	}
	if set := settingsIn(x.Env); len(set) > 0 {
		d.add("kubectl", u.Name, doctor.Warn, "runs "+runs+" with "+envNames(set)+" set in the kubeconfig's exec environment, "+
			"which decides what it does over what its arguments say (another profile, endpoint or Vault)",
			"remove them (kubectl config set-credentials "+auth.OneLine(u.Name)+envRemovals(set)+"), and name a profile with --profile instead")
		return
	}
	d.add("kubectl", u.Name, doctor.Pass, "runs "+runs, "")
}
