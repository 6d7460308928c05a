package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/dt-credential-helper/dt-credential-helper/internal/hosts"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
)

// configure writes the wiring README shows as snippets, through each
// tool's own means where it has one: git's and kubectl's configuration
// commands, and an edit of docker's config.json (internal/dockerconfig),
// which has none. Each looks at what is there first, so a second run
// changes nothing, and --dry-run shows what would change.
//
// The programs are named as README names them, by the names the tools find
// on PATH (git-credential-dt through git's helper "dt",
// docker-credential-dt through docker's "dt", dt-credential-helper for
// kubectl), not by this executable's path: docker can only take a name,
// and a configuration that names PATH's program keeps working when the
// helper is reinstalled elsewhere or upgraded. configure warns when a name
// is not on PATH.

// configureFlags are configure's flags.
type configureFlags struct {
	tool    string
	profile string
	hosts   string
	dryRun  bool
	// git
	local bool
	file  string
	// kubectl
	user       string
	kubeconfig string
}

// configureTools are the tools configure wires.
const configureTools = "git|docker|kubectl"

// toolFlags are the flags that only some tools take, and those tools.
func toolFlags() map[string][]string {
	return map[string][]string{
		"hosts":      {"git", "docker"},
		"local":      {"git"},
		"file":       {"git"},
		"user":       {"kubectl"},
		"kubeconfig": {"kubectl"},
	}
}

const configureAbout = `Writes the wiring that makes git, docker-style tools or kubectl get
DT access tokens from this program (README shows it by hand), and shows
what it changed. A second run changes nothing; --dry-run shows what would
change and changes nothing.

  git      git config --global (or --local, --file) for each host:
           credential.https://HOST.helper "" (clearing helpers configured for
           all hosts), then "dt" or "dt --profile P"
  docker   credHelpers of docker's config.json ($DOCKER_CONFIG, else
           ~/.docker): "dt" for each host; every other field is kept, and
           credsStore is never set. docker runs a helper without arguments:
           with --profile, only hosts the profile lists (login --hosts) can
           be wired, since only they get its tokens there
  kubectl  kubectl config set-credentials USER --exec-...: runs
           'dt-credential-helper token [--profile P]'; where kubectl is not
           on PATH, prints the command

Hosts default to the profile's own hosts (login --hosts), else the DT API
hosts and DT_CREDENTIAL_HOSTS. --profile is what is written: DT_PROFILE is
not read here.`

func (cf *configureFlags) flags(e env) *flagSet {
	fs := newFlagSet(e, "configure", "configure "+configureTools+" [FLAGS]")
	fs.about = configureAbout
	fs.StringVar(&cf.profile, "profile", "", "the profile whose tokens the tool gets (default: the account of the tool's environment)")
	fs.StringVar(&cf.hosts, "hosts", "", "git, docker: comma-separated host or host:port entries to wire")
	fs.BoolVar(&cf.dryRun, "dry-run", false, "show what would change; change nothing")
	fs.BoolVar(&cf.local, "local", false, "git: write the current repository's configuration instead of the global one")
	fs.StringVar(&cf.file, "file", "", "git: write this configuration file instead of the global one")
	fs.StringVar(&cf.user, "user", "", "kubectl: the kubeconfig user to set (default dt, or dt-PROFILE)")
	fs.StringVar(&cf.kubeconfig, "kubeconfig", "", "kubectl: the kubeconfig file (default kubectl's: KUBECONFIG, else ~/.kube/config)")
	fs.operands, fs.flagsAfterOperand = configureTools, true
	return fs
}

func runConfigure(ctx context.Context, e env, args []string) error {
	var cf configureFlags
	if err := parseConfigure(cf.flags(e), args, &cf); err != nil {
		return err
	}
	profiles := profile.NewRepository(e.getenv, 0, nil)
	if cf.profile != "" {
		// A typo must not be written into a tool's configuration, where
		// it fails only at the next pull or clone.
		if _, err := profiles.Account(cf.profile); err != nil {
			return err
		}
	}
	switch cf.tool {
	case "git":
		list, err := wiredHosts(e, profiles, cf)
		if err != nil {
			return err
		}
		return configureGit(ctx, e, cf, list)
	case "docker":
		list, err := wiredHosts(e, profiles, cf)
		if err != nil {
			return err
		}
		return configureDocker(ctx, e, cf, list)
	}
	return configureKubectl(ctx, e, cf)
}

// parseConfigure parses the command line, whose tool may come before the
// flags or after them, and refuses a flag the tool does not take.
func parseConfigure(fs *flagSet, args []string, cf *configureFlags) error {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cf.tool, args = args[0], args[1:]
	}
	if err := parse(fs, args, true); err != nil {
		return err
	}
	rest := fs.Args()
	if cf.tool == "" && len(rest) > 0 {
		cf.tool, rest = rest[0], rest[1:]
	}
	switch {
	case len(rest) > 0:
		return usagef("configure: unexpected argument %q", rest[0])
	case cf.tool == "":
		return usagef("configure: name the tool to configure: git, docker or kubectl")
	case !slices.Contains(strings.Split(configureTools, "|"), cf.tool):
		return usagef("configure: unknown tool %q: want git, docker or kubectl", cf.tool)
	case cf.local && cf.file != "":
		return usagef("configure git: --local and --file name two places; give one")
	}
	var err error
	only := toolFlags()
	fs.Visit(func(f *flag.Flag) {
		if tools, ok := only[f.Name]; ok && !slices.Contains(tools, cf.tool) && err == nil {
			err = usagef("configure %s: --%s is for %s only", cf.tool, f.Name, strings.Join(tools, " and "))
		}
	})
	if err != nil {
		return err
	}
	if cf.profile != "" {
		if err := profile.ValidateName(cf.profile); err != nil {
			return usagef("configure: %v", err)
		}
	}
	return nil
}

// wiredHosts returns the hosts to wire for git or docker, "host" or
// "host:port" (a port 443 dropped: both tools speak https), each checked to
// get the tokens the configuration asks for: the helper hands a token only
// to a host in its set, and a host a profile lists gets that profile's
// tokens whatever the tool's command line says.
func wiredHosts(e env, profiles *profile.Repository, cf configureFlags) ([]string, error) {
	routes, err := hostEntries(e, profiles, cf)
	if err != nil {
		return nil, usagef("configure %s: %v", cf.tool, err)
	}
	if len(routes) == 0 {
		return nil, usagef("configure %s: --hosts names no host", cf.tool)
	}
	set, err := hostSet(e, profiles)
	if err != nil {
		return nil, err
	}
	var list []string
	for _, r := range routes {
		name := r.HTTPSServer()
		if slices.Contains(list, name) {
			continue
		}
		routed, rerr := set.Resolve("https", name)
		if err := checkRoute(cf, name, routed, rerr == nil); err != nil {
			return nil, err
		}
		list = append(list, name)
	}
	return list, nil
}

// hostEntries are the hosts --hosts names; else those the profile lists;
// else the DT API hosts and DT_CREDENTIAL_HOSTS, which the helper serves
// with the default account (or, for git, --profile's).
func hostEntries(e env, profiles *profile.Repository, cf configureFlags) ([]hosts.Route, error) {
	if cf.hosts != "" {
		return hosts.ParseList(cf.hosts, "")
	}
	if cf.profile != "" {
		a, err := profiles.Account(cf.profile)
		if err != nil {
			return nil, err
		}
		if len(a.Hosts) > 0 {
			return hosts.ParseEntries(a.Hosts, "")
		}
	}
	extra, err := hosts.ParseList(e.getenv(hosts.EnvHosts), "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", hosts.EnvHosts, err)
	}
	return append(hosts.DefaultRoutes(), extra...), nil
}

// checkRoute refuses to wire host (which the helper routes to profile
// routed, when ok) for a token it would not get.
func checkRoute(cf configureFlags, host, routed string, ok bool) error {
	switch {
	case !ok:
		return usagef("configure %s: the helper hands no token to %s: list it in %s, or route it to a profile with "+
			"'%s login --profile P ... --hosts %s'", cf.tool, host, hosts.EnvHosts, prog, host)
	case routed != "" && cf.profile != "" && routed != cf.profile:
		return usagef("configure %s: %s gets profile %q's tokens, since that profile lists it (login --hosts), whatever --profile says: "+
			"configure it with --profile %s, or leave it out of --hosts", cf.tool, host, routed, routed)
	case cf.tool == "docker" && cf.profile != "" && routed != cf.profile:
		return usagef("configure docker: docker runs a credential helper without arguments, so --profile %[1]s cannot be written for it: "+
			"%[2]s would get the default account's tokens. Route the host to the profile, "+
			"'%[3]s login --profile %[1]s ... --hosts %[2]s', and configure again; or configure docker without --profile "+
			"and run docker with %[4]s=%[1]s", cf.profile, host, prog, profile.EnvProfile)
	}
	return nil
}

// warnNotOnPath warns when the program a tool will run by name is not on
// PATH: the wiring is written, but does nothing until it is installed.
func warnNotOnPath(e env, name, tool string) {
	if _, err := lookPath(name, e.getenv("PATH")); err != nil {
		fmt.Fprintf(e.stderr, "%s: warning: %s is not on PATH, where %s will look for it: install it (scripts/install.sh, or the links README shows)\n", prog, name, tool)
	}
}
