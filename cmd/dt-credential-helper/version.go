package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/buildinfo"
	"github.com/dt-credential-helper/dt-credential-helper/internal/sibling"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = ""
	commit  = ""
)

// pluginVersionWait bounds how long `version` waits for the plugin's
// program to say its own.
const pluginVersionWait = 3 * time.Second

// pluginBuild is what this program knows of the plugin's program next to
// it: its report, or why there is none.
type pluginBuild struct {
	*buildinfo.Info
	// Path is where it was looked for.
	Path string `json:"path,omitempty"`
	// SameBuild says whether it is of this program's build; absent when
	// its report could not be had.
	SameBuild *bool `json:"same_build,omitempty"`
	// Error says why there is no report: not installed, not trusted, or
	// it did not answer.
	Error string `json:"error,omitempty"`
}

// pluginBuildOf finds the plugin's program next to this one, as a host's
// hand-over would (sibling.Path: refused unless only root or this user
// could have put it there), and asks it for its build (pluginBuildAt).
func pluginBuildOf(ctx context.Context, own buildinfo.Info) pluginBuild {
	path, err := sibling.Path(pluginProg, "reporting its version")
	if err != nil {
		return pluginBuild{Error: auth.OneLine(err.Error())}
	}
	return pluginBuildAt(ctx, path, own)
}

// pluginBuildAt runs the plugin's program at path, which sibling.Path
// found and trusts, as `version -o json` within ctx, and compares its build
// with own. doctor calls it with the path its own check found.
func pluginBuildAt(ctx context.Context, path string, own buildinfo.Info) pluginBuild {
	info, err := buildinfo.Run(ctx, path)
	if err != nil {
		return pluginBuild{Path: path, Error: auth.OneLine(err.Error())}
	}
	same := own.SameBuild(info)
	return pluginBuild{Info: &info, Path: path, SameBuild: &same}
}

// versionReport is `version -o json`: this program's build and the plugin
// program's.
type versionReport struct {
	buildinfo.Info
	Plugin pluginBuild `json:"plugin"`
}

// versionOutputs are version's output formats.
const versionOutputs = "text|json"

// versionLine is version's command line.
type versionLine struct{ output string }

func (l *versionLine) flags(e env) *flagSet {
	fs := newFlagSet(e, "version", "version [-o "+versionOutputs+"]")
	fs.about = `Prints this program's version, commit and Go version, and those of
` + pluginProg + ` next to it (which serves go-plugin hosts and reads
Vault; a build of the two that differ is warned about). With -o json, also
the versions of the main dependencies each one links.`
	fs.outputFlag(&l.output, versionOutputs)
	return fs
}

func runVersion(ctx context.Context, e env, args []string) error {
	var l versionLine
	if err := parse(l.flags(e), args, false); err != nil {
		return err
	}
	own := buildinfo.Read(prog, version, commit)
	ctx, cancel := context.WithTimeout(ctx, pluginVersionWait)
	defer cancel()
	plugin := pluginBuildOf(ctx, own)
	if l.output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(versionReport{Info: own, Plugin: plugin})
	}
	if _, err := fmt.Fprintln(e.stdout, own.Line()); err != nil {
		return err
	}
	if plugin.Info == nil {
		_, err := fmt.Fprintf(e.stdout, "%s: %s\n", pluginProg, plugin.Error)
		return err
	}
	// Its report is another program's words: one printable line.
	if _, err := fmt.Fprintln(e.stdout, auth.OneLine(plugin.Line())); err != nil {
		return err
	}
	if !*plugin.SameBuild {
		fmt.Fprintf(e.stderr, "%s: warning: %s at %s is of another build (%s) than this program (%s): install both from the same one\n",
			prog, pluginProg, plugin.Path, auth.OneLine(plugin.Build()), own.Build())
	}
	return nil
}
