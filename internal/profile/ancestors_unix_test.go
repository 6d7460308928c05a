//go:build unix

package profile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// TestConfigUnderSharedDirectory: with XDG_CONFIG_HOME below a directory
// others can write (group-writable, not sticky) or own, the profiles file
// and the secret files are refused, on read as on write, and nothing is
// changed: whoever controls that directory can rename the whole config
// directory away and put an older copy (a rolled-back profile) in its
// place, which the files' own checks cannot see. A sticky directory open
// to all (as /tmp) is fine: there, others cannot rename what is ours.
func TestConfigUnderSharedDirectory(t *testing.T) {
	tests := []struct {
		name string
		// share makes dir, a directory of ours above XDG_CONFIG_HOME,
		// what the case is about.
		share func(t *testing.T, dir string)
		ok    bool
	}{
		{"group-writable, not sticky", chmodTo(0o775), false},
		{"world-writable, not sticky", chmodTo(0o777), false},
		{"another user's", func(t *testing.T, dir string) {
			if os.Geteuid() != 0 {
				t.Skip("giving a directory to another user needs root")
			}
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"sticky and open to all, as /tmp", chmodTo(os.ModeSticky | 0o777), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shared := filepath.Join(t.TempDir(), "shared")
			if err := os.Mkdir(shared, 0o700); err != nil {
				t.Fatal(err)
			}
			xdg := filepath.Join(shared, "xdg")
			env := map[string]string{"XDG_CONFIG_HOME": xdg, "HOME": t.TempDir()}
			r := NewRepository(func(k string) string { return env[k] }, 0, nil)
			// Set up while everything is private, as the user had it.
			if err := r.Update(context.Background(), func(f *File) (bool, error) {
				f.Profiles["prod"] = Profile{KeyID: "k", Email: "e@x", Hosts: []string{"git.example"}, SecretStore: SecretInFile}
				return true, nil
			}); err != nil {
				t.Fatal(err)
			}
			secrets, err := r.Secrets(SecretInFile)
			if err != nil {
				t.Fatal(err)
			}
			if err := secrets.Set(SecretKey("prod"), []byte("the-secret")); err != nil {
				t.Fatal(err)
			}
			path, err := r.Path()
			if err != nil {
				t.Fatal(err)
			}
			tt.share(t, shared)
			before := listing(t, xdg)

			r = NewRepository(func(k string) string { return env[k] }, 0, nil)
			_, fileErr := r.File()
			_, loadErr := Load(path)
			secret, secretErr := r.Secret("prod")
			updateErr := r.Update(context.Background(), func(f *File) (bool, error) {
				delete(f.Profiles, "prod")
				return true, nil
			})
			if tt.ok {
				if err := errors.Join(fileErr, loadErr, secretErr, updateErr); err != nil || secret != "the-secret" {
					t.Fatalf("refused under a sticky directory: %v", err)
				}
				return
			}
			for what, err := range map[string]error{"File": fileErr, "Load": loadErr, "Secret": secretErr, "Update": updateErr} {
				var perr *privatefile.PermissionError
				if !errors.As(err, &perr) || perr.Path != shared || !strings.Contains(err.Error(), shared) {
					t.Errorf("%s = %v; want a *privatefile.PermissionError naming %s", what, err, shared)
				}
				if err != nil && strings.Contains(err.Error(), "chmod") {
					t.Errorf("%s = %v: advises re-moding a directory the program did not create", what, err)
				}
			}
			if !misconfig.Is(fileErr) {
				t.Errorf("File = %v; want a configuration error (exit 2)", fileErr)
			}
			if secret != "" {
				t.Error("the secret was read")
			}
			if diff := cmp.Diff(before, listing(t, xdg)); diff != "" {
				t.Errorf("a refused update changed the config directory (-before +after):\n%s", diff)
			}
		})
	}
}

func chmodTo(mode os.FileMode) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// listing is every path under root with its mode and size.
func listing(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		out = append(out, p+" "+fi.Mode().String()+" "+strings.Repeat("#", int(min(fi.Size(), 64))))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
