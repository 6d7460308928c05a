package buildinfo

import (
	"maps"
	"runtime/debug"
	"strings"
	"testing"
)

func TestHandOverMismatch(t *testing.T) {
	own := Info{Program: "dt-credential-helper-plugin", Version: "v1.2.0", Commit: "abc"}
	for _, tc := range []struct {
		name, helper string
		want         []string // "" for no warning
	}{
		{"no helper named", "", nil},
		{"same build", "v1.2.0 abc", nil},
		{"another version", "v1.1.0 abc", []string{"v1.1.0 abc", "v1.2.0 abc", "different builds"}},
		{"another commit", "v1.2.0 abd", []string{"v1.2.0 abd", "v1.2.0 abc"}},
		{"escapes from the environment", "v1\x1b[31m\nforged", []string{"v1 [31m forged"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := HandOverMismatch(func(k string) string {
				if k == EnvHandOver {
					return tc.helper
				}
				return ""
			}, own)
			if tc.want == nil {
				if got != "" {
					t.Errorf("warning %q, want none", got)
				}
				return
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("warning %q lacks %q", got, w)
				}
			}
			if strings.ContainsAny(got, "\x1b\n") {
				t.Errorf("warning %q holds a control character", got)
			}
		})
	}
}

// TestFromBuild: the linker flags win; without them the module's version
// and VCS revision are used; of the modules linked, the main dependencies
// are reported, a replaced one at its replacement's version. (A test
// binary's own build information lists no modules, so it is made here.)
func TestFromBuild(t *testing.T) {
	bi := &debug.BuildInfo{
		Main:     debug.Module{Path: "m", Version: "v0.3.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "feed"}},
		Deps: []*debug.Module{
			{Path: "golang.org/x/oauth2", Version: "v0.38.0"},
			{Path: "github.com/gofrs/flock", Version: "v0.13.2", Replace: &debug.Module{Path: "github.com/gofrs/flock", Version: "v0.13.3-fork"}},
			{Path: "github.com/unrelated/module", Version: "v1.0.0"},
		},
	}
	info := Info{Version: "v9.0.0", Dependencies: map[string]string{}}
	fromBuild(&info, bi)
	want := map[string]string{"golang.org/x/oauth2": "v0.38.0", "github.com/gofrs/flock": "v0.13.3-fork"}
	if info.Version != "v9.0.0" || info.Commit != "feed" || !maps.Equal(info.Dependencies, want) {
		t.Errorf("with a version from the linker: %+v; want v9.0.0, feed, %v", info, want)
	}
	info = Info{Dependencies: map[string]string{}}
	fromBuild(&info, bi)
	if info.Version != "v0.3.0" {
		t.Errorf("without linker flags: version %q, want the module's v0.3.0", info.Version)
	}
	if got := Read("x", "", ""); got.Version == "" || got.Commit == "" || !strings.HasPrefix(got.Go, "go") {
		t.Errorf("Read: %+v", got)
	}
}
