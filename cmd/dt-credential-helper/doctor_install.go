package main

import (
	"context"
	"errors"
	"io/fs"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/buildinfo"
	"github.com/dt-credential-helper/dt-credential-helper/internal/doctor"
	"github.com/dt-credential-helper/dt-credential-helper/internal/sibling"
)

// fixReinstall is the fix for a plugin program that is missing, refused or
// of another build.
const fixReinstall = "install both programs from one build: scripts/install.sh, or go install ./cmd/... from the clone"

// checkSibling checks the plugin program next to this one, as a host's
// hand-over and a Vault read find it (sibling.Path): there, trusted
// (a regular file only root or this user could have written), answering,
// and of this program's build (pluginBuildAt, as version asks it). Only
// go-plugin hosts and Vault accounts need it: missing is a failure only
// when an account reads Vault.
func (d *doctorRun) checkSibling(ctx context.Context) {
	const id = "plugin-program"
	path, err := sibling.Path(pluginProg, "serving go-plugin hosts and reading Vault")
	switch {
	case errors.Is(err, fs.ErrNotExist) && d.anyVault():
		d.add(id, "", doctor.Fail, oneLine(err), fixReinstall+" (Vault accounts are read through it)")
		return
	case errors.Is(err, fs.ErrNotExist):
		d.add(id, "", doctor.Warn, oneLine(err)+"; go-plugin hosts and Vault accounts need it", fixReinstall)
		return
	case err != nil:
		d.add(id, "", doctor.Fail, oneLine(err),
			"reinstall it (scripts/install.sh) so that it is a regular file that only you or root can write, and never run a copy others could have changed")
		return
	}
	own := buildinfo.Read(prog, version, commit)
	ctx, cancel := context.WithTimeout(ctx, pluginVersionWait)
	defer cancel()
	pb := pluginBuildAt(ctx, path, own)
	switch {
	case pb.Info == nil:
		d.add(id, "", doctor.Fail, pb.Path+": "+pb.Error, fixReinstall)
	case !*pb.SameBuild:
		d.add(id, "", doctor.Warn, pb.Path+": trusted, but of another build ("+auth.OneLine(pb.Build())+") than this program ("+own.Build()+")", fixReinstall)
	default:
		d.add(id, "", doctor.Pass, pb.Path+": trusted, of this program's build, "+own.Build(), "")
	}
}
