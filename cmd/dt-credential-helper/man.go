package main

import (
	"flag"
	"io"
	"strconv"
	"strings"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/dockerconfig"
	"github.com/dt-credential-helper/dt-credential-helper/internal/format"
	"github.com/dt-credential-helper/dt-credential-helper/internal/hosts"
	"github.com/dt-credential-helper/dt-credential-helper/internal/manpage"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/serviceaccount"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

//go:generate sh -c "go run . __man > ../../docs/dt-credential-helper.1"

// manCommand is the hidden command that prints the man page,
// dt-credential-helper(1): docs/dt-credential-helper.1 is its output on
// Linux (go generate writes it, TestManPageCurrent checks it), and
// scripts/package.sh packages the output of the binary it packages.
const manCommand = "__man"

func runMan(e env, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments", manCommand)
	}
	_, err := io.WriteString(e.stdout, manPage(e))
	return err
}

// manPage is the man page, written from what --help prints: the overview,
// and each command's usage line, summary, text and flags, as its flag set
// has them; and from the lists below, the one place the environment
// variables and files are listed (README is checked against them).
func manPage(e env) string {
	p := manpage.New(prog, "1", "User Commands")
	p.Section("Name")
	p.Text(prog + " - Disruptive Technologies access tokens for kubectl, git, docker-style tools and scripts")
	p.Section("Synopsis")
	p.Pre(prog + " [COMMAND] [FLAGS]\n" + gitHelperName + " " + gitActions + "\n" + dockerHelperName + " " + dockerActions)
	p.Section("Description")
	p.Text(usageIntro + "\n\n" + usageAccount + "\n\n" +
		"The git and docker credential helpers answer to their own names too, " + gitHelperName + " and " + dockerHelperName +
		" (links to " + prog + "), by which git and docker find them. README.md (which the packages install in /usr/share/doc/" + prog + ") is the full guide.")
	p.Section("Commands")
	manCommands(p, e)
	for _, s := range []struct {
		title string
		items []manItem
	}{
		{"Environment", environment()},
		{"Files", files()},
		{"Exit status", exitStatuses()},
		{"Examples", examples()},
	} {
		p.Section(s.title)
		for _, it := range s.items {
			p.Item(it.term, "", it.text)
		}
	}
	p.Section("See also")
	p.Text("git-credential(1), gitcredentials(7), kubectl(1), keyrings(7), keyctl(1)")
	return p.String()
}

// manCommands writes a subsection for each command: its usage line, its
// text (else its summary) and its flags, from its flag set.
func manCommands(p *manpage.Page, e env) {
	quiet := e
	quiet.stdout = io.Discard
	for _, c := range commands() {
		fs := c.flags(quiet)
		p.Subsection(c.name)
		p.Pre(prog + " " + fs.synopsis)
		if fs.about != "" {
			p.Text(fs.about)
		} else {
			p.Text(strings.ToUpper(c.summary[:1]) + c.summary[1:] + ".")
		}
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name == secretFlag {
				return
			}
			arg, usage := flag.UnquoteUsage(f)
			if d := f.DefValue; d != "" && d != "false" && d != "0" && d != "0s" {
				usage += " (default " + d + ")"
			}
			p.Item(flagSpelling(f.Name), arg, usage)
		})
	}
}

// manItem is a term of the man page and what it means.
type manItem struct{ term, text string }

// environment lists the environment variables the program reads, or sets
// for another program: the man page's ENVIRONMENT, against which README
// is checked (TestReadmeEnvironment).
func environment() []manItem {
	vault := func(name, flag string) manItem {
		return manItem{name, "As " + flag + ", for every command that fetches a token (not for login)."}
	}
	return []manItem{
		{auth.EnvKeyID, "The service account's key id; --key-id wins."},
		{auth.EnvEmail, "The service account's email; --email wins."},
		{auth.EnvSecret, "The service account's secret, which is never taken on the command line."},
		{auth.EnvTokenEndpoint, "The token endpoint URL; --token-endpoint wins. Default: " + auth.DefaultTokenEndpoint + "."},
		{auth.EnvCredentialsFile, "A DT SDK credentials file, holding the account and its secret; --credentials-file wins. Used only as a private file of yours (chmod 600)."},
		{profile.EnvProfile, "The profile (stored with login) to use; --profile wins."},
		{serviceaccount.EnvAPIURL, "DT's REST API, where rotate creates and deletes keys; --api-url wins. Default: " + serviceaccount.DefaultAPIURL + "."},
		{"DT_TOKEN_CACHE", "Where tokens are cached: " + keyring.ModeChoices + "; --cache wins. Default: auto."},
		{"DT_CACHE_DIR", "The file cache's directory, an absolute path. Default: $XDG_CACHE_HOME/dt-credential-helper."},
		{hosts.EnvHosts, "More hosts (host or host:port, comma separated) the git and docker helpers hand tokens to, besides the DT API's."},
		vault(vaultenv.EnvPath, "--vault-path"),
		vault(vaultenv.EnvRole, "--vault-role"),
		vault(vaultenv.EnvJWTFile, "--vault-jwt-file"),
		vault(vaultenv.EnvAuthMount, "--vault-auth-mount"),
		{"VAULT_ADDR, VAULT_AGENT_ADDR, VAULT_PROXY_ADDR, VAULT_HTTP_PROXY, VAULT_TOKEN, VAULT_CACERT, VAULT_NAMESPACE",
			"How a Vault path is read, as Vault's own client reads them (VAULT_TOKEN, else ~/.vault-token); plain http only to this machine."},
		{"HTTPS_PROXY, HTTP_PROXY, NO_PROXY", "The proxy of the token request, as for most programs."},
		{"SSL_CERT_FILE, SSL_CERT_DIR", "The CA certificates to trust instead of the system's (Linux and the BSDs)."},
		{"XDG_CONFIG_HOME", "Where the profiles are kept. Default: ~/.config."},
		{"XDG_CACHE_HOME", "Where the file cache is kept. Default: ~/.cache."},
		{format.EnvExecInfo, "Set by kubectl when it runs the program: token then prints an ExecCredential, of the apiVersion it names."},
		{dockerconfig.EnvConfig, "The directory of docker's config.json, which configure docker edits. Default: ~/.docker."},
		{"KUBECONFIG", "The kubeconfig file configure kubectl writes, as kubectl reads it."},
		{envAccessToken + ", " + envExpiresAt, "Set by exec for its command: the access token, and its expiry (RFC 3339, UTC)."},
		{pluginCookieKey, "Set by a go-plugin host: run with no command, the program then serves the plugin."},
	}
}

// files lists the files the program keeps, as README names them.
func files() []manItem {
	return []manItem{
		{"$XDG_CONFIG_HOME/dt-credential-helper/profiles.json", "The profiles login stores: each one's account or Vault path, and hosts; never a secret. " +
			"Trusted only as a file of yours that nobody else can write, as are its directories."},
		{"$XDG_CONFIG_HOME/dt-credential-helper/secrets/secret-<profile>", "A profile's secret, when login --store file keeps it in a private file instead of the OS keyring."},
		{"$XDG_CACHE_HOME/dt-credential-helper", "The file cache: cached tokens and lock files (" + "DT_CACHE_DIR" + " moves it), in a directory only you may enter."},
		{"~/.vault-token", "The Vault token, when VAULT_TOKEN is not set; used only as a private file of yours."},
	}
}

// exitStatuses lists the exit statuses.
func exitStatuses() []manItem {
	return []manItem{
		{strconv.Itoa(exitOK), "Success."},
		{strconv.Itoa(exitFailure), "The token could not be had: the network, rejected credentials, a keyring failing under an explicit --cache keyring. " +
			"The docker helper exits 1 on every error, as its protocol says."},
		{strconv.Itoa(exitUsage), "A usage or configuration error: an unknown flag, a missing key id, email or secret, a file that is not trusted."},
		{strconv.Itoa(exitNotFound), "exec: the command cannot be found. Otherwise exec exits with the command's own status."},
	}
}

// examples lists the man page's examples.
func examples() []manItem {
	return []manItem{
		{prog + " token -o header", "Prints Authorization: Bearer and a valid token, from the cache while it is fresh."},
		{`curl -H "$(` + prog + ` token -o header)" https://api.disruptive-technologies.com/v2/projects`, "Calls the DT API with it."},
		{prog + " login --profile prod --key-id KEY --email EMAIL", "Asks for the secret, checks it with one token request, and keeps it in the OS keyring."},
		{prog + " configure git --profile prod", "Makes git use profile prod's tokens for the DT hosts."},
		{prog + " exec --profile prod -- ./report.sh", "Runs ./report.sh with the token in DT_ACCESS_TOKEN."},
		{"source <(" + prog + " completion bash)", "Completes commands, flags and profile names in bash."},
	}
}
