package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/dt-credential-helper/dt-credential-helper/internal/buildinfo"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...",
// as for dt-credential-helper (install.sh builds both with the same flags).
var (
	version = ""
	commit  = ""
)

// build is this program's build.
func build() buildinfo.Info { return buildinfo.Read(prog, version, commit) }

// runVersion prints this program's build: `version` as one line, `version
// -o json` as the report dt-credential-helper's `version` and `doctor` read
// (buildinfo.Run).
func runVersion(w io.Writer, args []string) error {
	switch {
	case len(args) == 0 || len(args) == 2 && args[0] == "-o" && args[1] == "text":
		_, err := fmt.Fprintln(w, build().Line())
		return err
	case len(args) == 2 && args[0] == "-o" && args[1] == "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(build())
	}
	return errors.New("version: want 'version' or 'version -o json'")
}
