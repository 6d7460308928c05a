//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
)

// TestCredentialsFileReadableByOthers: a credentials file group or others
// can read is refused as OpenSSH refuses such a private key, exit 2, with
// the advice to chmod 600 it; nothing is requested and the secret is not
// shown. A 0600 one is used.
func TestCredentialsFileReadableByOthers(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o644, 0o600} {
		t.Run(mode.String(), func(t *testing.T) {
			srv := authtest.NewServer(testAccount)
			defer srv.Close()
			path := filepath.Join(t.TempDir(), "credentials.json")
			content := fmt.Sprintf(`{"serviceAccount":{"keyId":%q,"secret":%q,"email":%q}}`, testAccount.KeyID, testAccount.Secret, testAccount.Email)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			env := withEnv(withoutEnv(baseEnv(t, srv.TokenURL()), "DT_SERVICE_ACCOUNT_KEY_ID", "DT_SERVICE_ACCOUNT_EMAIL", "DT_SERVICE_ACCOUNT_SECRET"), "DT_CREDENTIALS_FILE="+path)
			r := runFor(t, runLimit, env, "", "token", "-o", "token")
			if mode == 0o600 {
				if r.code != 0 || !srv.Valid(strings.TrimSpace(r.stdout)) {
					t.Fatalf("exit %d, stderr %q; want the token", r.code, r.stderr)
				}
				return
			}
			if r.code != 2 || r.stdout != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", r.code, r.stdout)
			}
			oneStderrLine(t, r.stderr, "credentials file", "chmod 600 "+path)
			if n := srv.Requests(); n != 0 {
				t.Errorf("%d token requests, want none", n)
			}
		})
	}
}
