//go:build linux

package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestVersionPluginMissing: without the plugin's program the helper still
// reports its own version, and says where the other is missing.
func TestVersionPluginMissing(t *testing.T) {
	t.Parallel()
	helper := filepath.Join(installTo(t, false), prog)
	v := versionOf(t, helper)
	if v.Version == "" || v.Plugin.Info != nil || v.Plugin.SameBuild != nil ||
		!strings.Contains(v.Plugin.Error, "not there") || !strings.Contains(v.Plugin.Error, filepath.Join(filepath.Dir(helper), pluginProg)) {
		t.Errorf("report without the plugin's program: %+v", v)
	}
	r := runPathFor(t, helper, runLimit, nil, "", "version")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], prog+" ") || !strings.HasPrefix(lines[1], pluginProg+": ") || !strings.Contains(lines[1], "not there") {
		t.Errorf("version: exit %d, stdout %q; want this program's line, then one saying the plugin's is not there", r.code, r.stdout)
	}
}
