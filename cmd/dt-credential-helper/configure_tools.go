package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/boundedbuf"
	"github.com/dt-credential-helper/dt-credential-helper/internal/dockerconfig"
	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// toolWait bounds each git or kubectl command configure runs.
const toolWait = 30 * time.Second

// configureGit sets, in git's global configuration (or --local, --file),
// each host's URL-scoped helper list to "" (which clears the helpers
// configured for all hosts, such as store, which would be handed the token
// to keep) and then the helper, as README's snippet does; a host whose list
// is that already is left alone.
func configureGit(ctx context.Context, e env, cf configureFlags, list []string) error {
	helper := "dt"
	if cf.profile != "" {
		helper += " --profile " + cf.profile // a profile name needs no quoting
	}
	scope := []string{"--global"}
	switch {
	case cf.local:
		scope = []string{"--local"}
	case cf.file != "":
		scope = []string{"--file", cf.file}
	}
	git, lookErr := lookPath("git", e.getenv("PATH"))
	var cmds [][]string
	var changed []string
	for _, host := range list {
		key := "credential.https://" + host + ".helper"
		if lookErr == nil {
			have, err := gitValues(ctx, e, git, scope, key)
			if err != nil {
				return fmt.Errorf("configure git: %w", err)
			}
			if slices.Equal(have, []string{"", helper}) {
				continue
			}
		}
		changed = append(changed, host)
		cmds = append(cmds,
			slices.Concat([]string{"config"}, scope, []string{"--replace-all", key, ""}),
			slices.Concat([]string{"config"}, scope, []string{"--add", key, helper}))
	}
	warnNotOnPath(e, gitHelperName, "git")
	if len(cmds) == 0 {
		_, err := fmt.Fprintf(e.stdout, "git: %s already use the helper %q: nothing to change\n", strings.Join(list, ", "), helper)
		return err
	}
	if err := runToolCommands(ctx, e, "git", git, lookErr, cmds, cf.dryRun); err != nil || lookErr != nil || cf.dryRun {
		return err
	}
	_, err := fmt.Fprintf(e.stdout, "git: %s now use the helper %q\n", strings.Join(changed, ", "), helper)
	return err
}

// gitValues returns every value of key in scope, in order; none when the
// key is not set.
func gitValues(ctx context.Context, e env, git string, scope []string, key string) ([]string, error) {
	// --null ends each value with a NUL: an empty value is still seen.
	out, err := runTool(ctx, e, git, slices.Concat([]string{"config"}, scope, []string{"--null", "--get-all", key}))
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 && len(out) == 0 {
		return nil, nil // git's answer for a key that is not set
	}
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00"), nil
}

// configureDocker sets credHelpers in docker's config.json to "dt" for each
// host, keeping the rest of the file, and shows what changed as a diff. The
// edit holds this program's lock from the read to the write
// (dockerconfig.Edit); a dry run only reads, creating nothing.
func configureDocker(ctx context.Context, e env, cf configureFlags, list []string) error {
	path, err := dockerconfig.Path(e.getenv)
	if err != nil {
		return usagef("configure docker: %v", err)
	}
	const helper = "dt"
	var f *dockerconfig.File
	var changes []dockerconfig.Change
	set := func(loaded *dockerconfig.File) (bool, error) {
		f, changes = loaded, loaded.Set(list, helper)
		// Shown before the write, so that a failed one follows its diff.
		showDocker(e, cf, f, helper, changes, list)
		return len(changes) > 0 && !cf.dryRun, nil
	}
	if cf.dryRun {
		var loaded *dockerconfig.File
		if loaded, err = dockerconfig.Load(path); err == nil {
			_, err = set(loaded)
		}
	} else {
		err = dockerconfig.Edit(ctx, path, set)
	}
	if errors.Is(err, dockerconfig.ErrInvalid) || errors.Is(err, privatefile.ErrInsecure) {
		return usagef("configure docker: %v; nothing was written", err)
	}
	if err != nil {
		return fmt.Errorf("configure docker: %w", err)
	}
	switch {
	case len(changes) == 0:
		_, err = fmt.Fprintf(e.stdout, "docker: %s already use the helper %q in %s: nothing to change\n", strings.Join(list, ", "), helper, f.Target)
	case cf.dryRun:
		_, err = fmt.Fprintln(e.stdout, "dry run: nothing changed")
	default:
		_, err = fmt.Fprintf(e.stdout, "docker: wrote %s\n", f.Target)
	}
	return err
}

// showDocker prints the warnings about f and the diff of changes, the
// credHelpers entries naming helper that configure docker sets for list.
func showDocker(e env, cf configureFlags, f *dockerconfig.File, helper string, changes []dockerconfig.Change, list []string) {
	warnNotOnPath(e, dockerHelperName, "docker")
	if f.CredsStore == helper {
		fmt.Fprintf(e.stderr, "%s: warning: %s sets credsStore to %q, which sends every registry's logins to this helper, "+
			"and it refuses to store them: remove credsStore, or set it to your own store; credHelpers is what DT hosts need\n",
			prog, f.Target, helper)
	}
	if cf.profile != "" {
		fmt.Fprintf(e.stdout, "docker: runs helpers without arguments: %s get profile %s's tokens because the profile lists them (login --hosts)\n",
			strings.Join(list, ", "), cf.profile)
	}
	if len(changes) == 0 {
		return
	}
	fmt.Fprintf(e.stdout, "--- %s\n+++ %s\n credHelpers:\n", f.Target, f.Target)
	for _, c := range changes {
		if c.HadOld {
			fmt.Fprintf(e.stdout, "-  %s\n", auth.OneLine(jsonEntry(c.Host, c.Old)))
		}
		fmt.Fprintf(e.stdout, "+  %s\n", auth.OneLine(jsonEntry(c.Host, c.New)))
	}
}

// jsonEntry is `"key": "value"`, as JSON spells them.
func jsonEntry(key, value string) string {
	k, _ := json.Marshal(key) // strings always encode
	v, _ := json.Marshal(value)
	return string(k) + ": " + string(v)
}

// kubectlExec is the exec section configure writes, as `kubectl config
// view -o json` shows it.
type kubectlExec struct {
	APIVersion      string   `json:"apiVersion"`
	Command         string   `json:"command"`
	Args            []string `json:"args"`
	InteractiveMode string   `json:"interactiveMode"`
}

// configureKubectl sets a kubeconfig user that runs `dt-credential-helper
// token [--profile P]` as an exec credential plugin, through kubectl itself;
// where kubectl is not on PATH it prints the command.
func configureKubectl(ctx context.Context, e env, cf configureFlags) error {
	want := kubectlExec{APIVersion: "client.authentication.k8s.io/v1", Command: prog, Args: []string{"token"}, InteractiveMode: "Never"}
	user := cf.user
	if user == "" {
		user = "dt"
	}
	if cf.profile != "" {
		want.Args = append(want.Args, "--profile", cf.profile)
		if cf.user == "" {
			user = "dt-" + cf.profile
		}
	}
	var global []string
	if cf.kubeconfig != "" {
		global = []string{"--kubeconfig", cf.kubeconfig}
	}
	set := slices.Concat(global, []string{"config", "set-credentials", user,
		"--exec-api-version=" + want.APIVersion, "--exec-command=" + want.Command})
	for _, a := range want.Args {
		set = append(set, "--exec-arg="+a)
	}
	set = append(set, "--exec-interactive-mode="+want.InteractiveMode)

	if err := checkKubeconfigs(e, cf.kubeconfig); err != nil {
		return usagef("configure kubectl: %v", err)
	}
	kubectl, lookErr := lookPath("kubectl", e.getenv("PATH"))
	if lookErr == nil {
		same, err := kubectlUserIs(ctx, e, kubectl, global, user, want)
		var ue *usageError
		if err != nil && !errors.As(err, &ue) {
			return fmt.Errorf("configure kubectl: %w", err)
		}
		if err != nil {
			return err
		}
		if same {
			_, err := fmt.Fprintf(e.stdout, "kubectl: user %q already runs %s %s: nothing to change\n", user, want.Command, strings.Join(want.Args, " "))
			return err
		}
	}
	warnNotOnPath(e, prog, "kubectl")
	if err := runToolCommands(ctx, e, "kubectl", kubectl, lookErr, [][]string{set}, cf.dryRun); err != nil || lookErr != nil || cf.dryRun {
		return err
	}
	_, err := fmt.Fprintf(e.stdout, "kubectl: user %q runs %s %s; use it in a context: kubectl config set-context CONTEXT --user %s\n",
		user, want.Command, strings.Join(want.Args, " "), user)
	return err
}

// checkKubeconfigs refuses a kubeconfig kubectl would read (flag, given
// with --kubeconfig; else each file KUBECONFIG lists; else ~/.kube/config)
// that someone else could have written: whoever can says which program
// kubectl runs for a token, and where it sends it. A file of ours that
// group and others cannot write, through links and directories only we or
// root control (privatefile.CheckPath with CheckOwned, the profiles file's
// rule); a missing one is kubectl's to create.
func checkKubeconfigs(e env, flag string) error {
	paths := []string{flag}
	if flag == "" {
		paths = filepath.SplitList(e.getenv("KUBECONFIG"))
	}
	paths = slices.DeleteFunc(paths, func(p string) bool { return p == "" })
	if len(paths) == 0 {
		home := e.getenv("HOME")
		if home == "" {
			return nil
		}
		paths = []string{filepath.Join(home, ".kube", "config")}
	}
	for _, p := range paths {
		err := privatefile.CheckPath(p, privatefile.CheckOwned)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("the kubeconfig %s is not one only you could have written, which decides what kubectl runs for a token: %w", p, err)
		}
	}
	return nil
}

// kubeconfigUser is a kubeconfig user as `kubectl config view -o json`
// shows it, without --raw: kubectl leaves tokens and keys out.
type kubeconfigUser struct {
	Name string
	// Exec is its exec plugin, nil when it has none.
	Exec *kubeconfigExec
	// Others names its other credential fields (token,
	// client-certificate, auth-provider, ...), sorted.
	Others []string
}

// kubeconfigExec is a kubeconfig user's exec plugin.
type kubeconfigExec struct {
	kubectlExec
	Env []kubectlEnvVar `json:"env"`
}

// kubectlEnvVar is an entry of an exec plugin's environment; its value is
// not read.
type kubectlEnvVar struct {
	Name string `json:"name"`
}

// kubeconfigUsers runs `kubectl [global] config view -o json` and returns
// the kubeconfig's users: what configure kubectl and doctor read of it.
func kubeconfigUsers(ctx context.Context, e env, kubectl string, global []string) ([]kubeconfigUser, error) {
	// Without --raw, kubectl redacts tokens and keys: none is read here.
	out, err := runTool(ctx, e, kubectl, slices.Concat(global, []string{"config", "view", "-o", "json"}))
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Users []struct {
			Name string                     `json:"name"`
			User map[string]json.RawMessage `json:"user"`
		} `json:"users"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		return nil, fmt.Errorf("reading kubectl config view: %w", err)
	}
	users := make([]kubeconfigUser, len(cfg.Users))
	for i, u := range cfg.Users {
		users[i].Name = u.Name
		for field, raw := range u.User {
			switch {
			case field != "exec":
				users[i].Others = append(users[i].Others, field)
			case string(raw) != "null":
				x := new(kubeconfigExec)
				if err := json.Unmarshal(raw, x); err != nil {
					return nil, fmt.Errorf("reading kubectl config view: user %q: %w", u.Name, err)
				}
				users[i].Exec = x
			}
		}
		slices.Sort(users[i].Others)
	}
	return users, nil
}

// kubectlUserIs reports whether the kubeconfig's user is set to run want.
// A user that holds other credentials (a token, a certificate, an auth
// provider) is refused: set-credentials would merge the exec section into
// it, leaving two ways to log in.
func kubectlUserIs(ctx context.Context, e env, kubectl string, global []string, user string, want kubectlExec) (bool, error) {
	users, err := kubeconfigUsers(ctx, e, kubectl, global)
	if err != nil {
		return false, err
	}
	for _, u := range users {
		if u.Name != user {
			continue
		}
		if len(u.Others) > 0 {
			return false, usagef("configure kubectl: kubeconfig user %q already has %s set: choose another --user, "+
				"or remove it first (kubectl config delete-user %s)", user, auth.OneLine(u.Others[0]), user)
		}
		have := u.Exec
		if have == nil {
			have = new(kubeconfigExec)
		}
		if len(have.Env) > 0 {
			// set-credentials merges: they would stay, and decide what
			// the helper does (another profile, endpoint or secret).
			return false, usagef("configure kubectl: kubeconfig user %q's exec plugin sets %s in its environment, which set-credentials keeps "+
				"and which would change what the helper does: remove them first (kubectl config set-credentials %s%s), or choose another --user",
				user, envNames(have.Env), user, envRemovals(have.Env))
		}
		return have.APIVersion == want.APIVersion && have.Command == want.Command &&
			slices.Equal(have.Args, want.Args) && have.InteractiveMode == want.InteractiveMode, nil
	}
	return false, nil
}

// envNames lists env's names, each one printable line, comma separated.
func envNames(env []kubectlEnvVar) string {
	names := make([]string, len(env))
	for i, v := range env {
		names[i] = auth.OneLine(v.Name)
	}
	return strings.Join(names, ", ")
}

// envRemovals is the set-credentials arguments that remove env's entries.
func envRemovals(env []kubectlEnvVar) string {
	var b strings.Builder
	for _, v := range env {
		b.WriteString(" " + shellQuote([]string{"--exec-env=" + auth.OneLine(v.Name) + "-"}))
	}
	return b.String()
}

// runToolCommands prints each of cmds (arguments to tool) as a shell
// command and, unless dryRun, runs it with the tool at path; where the
// tool is not on PATH (lookErr), it prints them for the user to run
// elsewhere.
func runToolCommands(ctx context.Context, e env, tool, path string, lookErr error, cmds [][]string, dryRun bool) error {
	if lookErr != nil {
		fmt.Fprintf(e.stderr, "%s: %s is not on PATH: nothing changed; run these where it is:\n", prog, tool)
	}
	for _, c := range cmds {
		fmt.Fprintln(e.stdout, shellQuote(append([]string{tool}, c...)))
		if lookErr != nil || dryRun {
			continue
		}
		if _, err := runTool(ctx, e, path, c); err != nil {
			return fmt.Errorf("configure %s: %w", tool, err)
		}
	}
	if dryRun && lookErr == nil {
		_, err := fmt.Fprintln(e.stdout, "dry run: nothing changed")
		return err
	}
	return nil
}

// maxToolOutput bounds what is kept of a tool's output; maxToolErrors of
// its stderr, of which an error quotes the first 500 bytes.
const (
	maxToolOutput = 4 << 20
	maxToolErrors = 64 << 10
)

// runTool runs the program at path with args, in the environment
// without the variables exec withholds (the tool needs no secret), and
// returns its stdout. A failure's error quotes its stderr.
func runTool(ctx context.Context, e env, path string, args []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, toolWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = childEnv(e.environ())
	cmd.WaitDelay = time.Second
	stdout := boundedbuf.Buffer{Limit: maxToolOutput}
	stderr := boundedbuf.Buffer{Limit: maxToolErrors}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if stdout.Over() {
		return nil, fmt.Errorf("%s: more output than %d MiB", shellQuote(append([]string{path}, args...)), maxToolOutput>>20)
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		return stdout.Bytes(), fmt.Errorf("%s: %w: %s", shellQuote(append([]string{path}, args...)), err, msg)
	}
	return stdout.Bytes(), nil
}

// shellQuote joins args as a POSIX shell would read them back: a word of
// safe characters as it is, any other in single quotes.
func shellQuote(args []string) string {
	words := make([]string, len(args))
	for i, a := range args {
		safe := a != ""
		for _, c := range a {
			if !strings.ContainsRune("@%_+=:,./-", c) && !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
				safe = false
			}
		}
		if safe {
			words[i] = a
		} else {
			words[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(words, " ")
}
