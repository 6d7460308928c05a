package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// status (issue 19, item 7): -o json for scripts and monitoring, an
// account from a credentials file that says so, a line when there are no
// profiles, and where each profile's token is cached. The emulator stands
// in for DT's identity service.

// statusDoc is status -o json's documented shape (README, "status -o
// json"): decoded with unknown fields refused, so that a field added or
// renamed shows here.
type statusDoc struct {
	TokenCache struct {
		Store string `json:"store"`
		Note  string `json:"note"`
	} `json:"token_cache"`
	Accounts []struct {
		Profile         string `json:"profile"`
		Source          string `json:"source"`
		CredentialsFile string `json:"credentials_file"`
		KeyID           string `json:"key_id"`
		Email           string `json:"email"`
		TokenEndpoint   string `json:"token_endpoint"`
		Vault           *struct {
			Path     string `json:"path"`
			Identity string `json:"identity"`
			URL      string `json:"url"`
		} `json:"vault"`
		Secret string `json:"secret"`
		Token  *struct {
			State     string    `json:"state"`
			Store     string    `json:"store"`
			ExpiresAt time.Time `json:"expires_at"`
			ExpiresIn int64     `json:"expires_in"`
			Error     string    `json:"error"`
			// RefreshBackoff is there while refreshing backs off.
			RefreshBackoff *struct {
				FailedAt    time.Time `json:"failed_at"`
				NextAttempt time.Time `json:"next_attempt"`
				Error       string    `json:"error"`
			} `json:"refresh_backoff"`
		} `json:"token"`
		KeyCreated         time.Time `json:"key_created"`
		RotationUnfinished bool      `json:"rotation_unfinished"`
		Error              string    `json:"error"`
	} `json:"accounts"`
}

func decodeStatus(t *testing.T, stdout string) statusDoc {
	t.Helper()
	var doc statusDoc
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("status -o json: %v:\n%s", err, stdout)
	}
	if dec.More() {
		t.Fatalf("status -o json printed more than one value:\n%s", stdout)
	}
	return doc
}

func TestStatusJSON(t *testing.T) {
	srv := authtest.NewServer(testAccount)
	defer srv.Close()
	environ := withEnv(wiredEnv(t), "DT_TOKEN_CACHE=file", "VAULT_ADDR=https://vault.example:8200", "VAULT_TOKEN=hvs.status-test")
	if r := runWired(t, environ, testSecret+"\n", loginArgs("p", srv.TokenURL())...); r.code != 0 {
		t.Fatalf("login: exit %d, stderr %q", r.code, r.stderr)
	}
	err := profile.Update(t.Context(), profilesPath(t, environ), func(f *profile.File) (bool, error) {
		f.Profiles["fleet"] = profile.Profile{Vault: &vaultenv.Reference{Path: "dt/token/prod"}}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tok := runWired(t, environ, "", "token", "--profile", "p", "-o", "token")
	if tok.code != 0 {
		t.Fatalf("token: exit %d, stderr %q", tok.code, tok.stderr)
	}
	token := strings.TrimSpace(tok.stdout)
	credFile := filepath.Join(t.TempDir(), "credentials.json")
	// Another account than p's: p's cached token is not this one's.
	creds := fmt.Sprintf(`{"serviceAccount":{"keyId":"file-key","email":%q,"secret":%q,"tokenEndpoint":%q}}`,
		testAccount.Email, testSecret, srv.TokenURL())
	if err := os.WriteFile(credFile, []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	environ = withEnv(environ, "DT_CREDENTIALS_FILE="+credFile)

	r := runWired(t, environ, "", "status", "-o", "json")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("status -o json: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, s := range []string{token, testSecret, "hvs.status-test"} {
		if strings.Contains(r.stdout, s) {
			t.Fatalf("status -o json shows a token or secret:\n%s", r.stdout)
		}
	}
	doc := decodeStatus(t, r.stdout)
	if doc.TokenCache.Store != "file" {
		t.Errorf("token_cache %+v, want store file", doc.TokenCache)
	}
	if len(doc.Accounts) != 3 {
		t.Fatalf("%d accounts, want the credentials file's, then fleet and p:\n%s", len(doc.Accounts), r.stdout)
	}
	file, fleet, p := doc.Accounts[0], doc.Accounts[1], doc.Accounts[2]
	if file.Profile != "" || file.Source != "credentials-file" || file.CredentialsFile != credFile || file.Secret != "credentials-file" ||
		file.KeyID != "file-key" || file.Token == nil || file.Token.State != "none" || file.Token.Store != "" {
		t.Errorf("the credentials file's account: %+v", file)
	}
	if fleet.Profile != "fleet" || fleet.Source != "profile" || fleet.Vault == nil || fleet.Vault.Path != "dt/token/prod" ||
		fleet.KeyID != "" || fleet.Secret != "vault" || fleet.Token == nil || fleet.Token.State != "none" {
		t.Errorf("the Vault profile: %+v", fleet)
	}
	if p.Profile != "p" || p.Source != "profile" || p.Secret != "file" || p.KeyID != testAccount.KeyID || p.Email != testAccount.Email ||
		p.TokenEndpoint != srv.TokenURL() || p.Token == nil || p.Token.State != "valid" || p.Token.Store != "file" ||
		p.Token.ExpiresIn <= 0 || p.Token.ExpiresIn > 3600 || time.Until(p.Token.ExpiresAt) <= 0 {
		t.Errorf("the DT profile: %+v, token %+v", p, p.Token)
	}

	// The table says the same.
	r = runWired(t, environ, "", "status")
	if r.code != 0 {
		t.Fatalf("status: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, re := range []string{
		`(?m)^PROFILE +KEY ID +EMAIL +TOKEN ENDPOINT +SECRET +TOKEN STORE +CACHED TOKEN +KEY AGE$`,
		`(?m)^\(credentials file\) +file-key .* credentials file +- +none +-$`,
		`(?m)^p +` + regexp.QuoteMeta(testAccount.KeyID) + ` .* file +file +valid until .* unknown$`,
		`(?m)^fleet +dt/token/prod .* vault +- +none +-$`,
		`(?m)^Token cache: file$`,
	} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("status does not match %s:\n%s", re, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "(environment)") {
		t.Errorf("the credentials file's account is called the environment's:\n%s", r.stdout)
	}
}

// TestStatusNoProfiles: with no profiles, status says so and how to store
// one, rather than printing an empty table; -o json has an empty list.
func TestStatusNoProfiles(t *testing.T) {
	environ := withEnv(wiredEnv(t), "DT_TOKEN_CACHE=file")
	r := runWired(t, environ, "", "status")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("status: exit %d, stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "No profiles") || !strings.Contains(r.stdout, prog+" login --profile") {
		t.Errorf("status with no profiles:\n%s\nwant a line saying there are none and how to store one", r.stdout)
	}
	if strings.Contains(r.stdout, "PROFILE") {
		t.Errorf("status with nothing to list prints a table header:\n%s", r.stdout)
	}
	r = runWired(t, environ, "", "status", "-o", "json")
	if r.code != 0 || !bytes.Contains([]byte(r.stdout), []byte(`"accounts": []`)) {
		t.Errorf("status -o json with no profiles: exit %d:\n%s\nwant \"accounts\": []", r.code, r.stdout)
	}
	decodeStatus(t, r.stdout)

	r = runWired(t, environ, "", "status", "-o", "yaml")
	if r.code != exitUsage || !strings.Contains(r.stderr, "yaml") {
		t.Errorf("status -o yaml: exit %d, stderr %q; want a usage error", r.code, r.stderr)
	}
}

// TestStatusJSONReadme: the status -o json README shows is the shape
// status prints (decodeStatus refuses a field it does not know).
func TestStatusJSONReadme(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "`status -o json` prints")
	if !ok {
		t.Fatal("README does not show status -o json")
	}
	_, rest, _ = strings.Cut(rest, "```json\n")
	example, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("README's status -o json example has no end")
	}
	doc := decodeStatus(t, example)
	if len(doc.Accounts) == 0 || doc.TokenCache.Store == "" {
		t.Errorf("README's example shows no account or no token cache:\n%s", example)
	}
}
