package auth

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "credentials.json")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolvePrecedence(t *testing.T) {
	file := writeFile(t, `{"serviceAccount":{"keyId":"file-kid","secret":"file-secret","email":"file@x","algorithm":"HS256","tokenEndpoint":"https://file.example/oauth2/token"}}`)
	fullEnv := map[string]string{
		EnvKeyID: "env-kid", EnvEmail: "env@x", EnvSecret: "env-secret", EnvTokenEndpoint: "https://env.example/oauth2/token",
	}
	tests := []struct {
		name     string
		settings Settings
		env      map[string]string
		want     Credentials
	}{
		{
			name: "environment only, default endpoint",
			env:  map[string]string{EnvKeyID: "env-kid", EnvEmail: "env@x", EnvSecret: "env-secret"},
			want: Credentials{KeyID: "env-kid", Email: "env@x", Secret: "env-secret", TokenEndpoint: DefaultTokenEndpoint},
		},
		{
			name:     "flags win over environment",
			settings: Settings{KeyID: "flag-kid", Email: "flag@x", TokenEndpoint: "https://flag.example/t"},
			env:      fullEnv,
			want:     Credentials{KeyID: "flag-kid", Email: "flag@x", Secret: "env-secret", TokenEndpoint: "https://flag.example/t"},
		},
		{
			name: "credentials file from the environment",
			env:  map[string]string{EnvCredentialsFile: file},
			want: Credentials{KeyID: "file-kid", Email: "file@x", Secret: "file-secret", TokenEndpoint: "https://file.example/oauth2/token"},
		},
		{
			name: "environment wins over the credentials file",
			env:  map[string]string{EnvCredentialsFile: file, EnvKeyID: "env-kid", EnvSecret: "env-secret"},
			want: Credentials{KeyID: "env-kid", Email: "file@x", Secret: "env-secret", TokenEndpoint: "https://file.example/oauth2/token"},
		},
		{
			name:     "credentials file flag wins over DT_CREDENTIALS_FILE",
			settings: Settings{CredentialsFile: file},
			env:      map[string]string{EnvCredentialsFile: "/nonexistent"},
			want:     Credentials{KeyID: "file-kid", Email: "file@x", Secret: "file-secret", TokenEndpoint: "https://file.example/oauth2/token"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.settings, mapEnv(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestProfileLayerBetweenFlagsAndEnvironment(t *testing.T) {
	env := mapEnv(map[string]string{EnvKeyID: "env-kid", EnvEmail: "env@x", EnvSecret: "env-secret"})
	got, err := Layers(Settings{Email: "flag@x"}, Credentials{KeyID: "profile-kid", Email: "profile@x"}, env)
	if err != nil {
		t.Fatal(err)
	}
	want := Credentials{KeyID: "profile-kid", Email: "flag@x", Secret: "env-secret", TokenEndpoint: DefaultTokenEndpoint}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestResolveMissing(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string // substrings of the error
	}{
		{"nothing", nil, []string{"key id", "email", "secret"}},
		{"no email", map[string]string{EnvKeyID: "k", EnvSecret: "s"}, []string{"email (--email or DT_SERVICE_ACCOUNT_EMAIL)"}},
		{"no secret", map[string]string{EnvKeyID: "k", EnvEmail: "e"}, []string{"secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Resolve(Settings{}, mapEnv(tt.env))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *ConfigError", err)
			}
			var m interface{ Misconfigured() bool }
			if !errors.As(err, &m) || !m.Misconfigured() {
				t.Error("the error does not say Misconfigured() through errors.As")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestValidateEndpoint(t *testing.T) {
	tests := []struct {
		endpoint string
		ok       bool
	}{
		{DefaultTokenEndpoint, true},
		{"http://127.0.0.1:8080/oauth2/token", true},
		{"http://[::1]:8080/oauth2/token", true},
		{"http://localhost/oauth2/token", true},
		{"http://LOCALHOST:1/t", true},
		{"http://127.1.2.3/t", true},
		{"http://identity.disruptive-technologies.com/oauth2/token", false},
		{"http://10.0.0.1/t", false},
		{"http://localhost.evil.example/t", false},
		{"ftp://localhost/t", false},
		{"https://user:pw@identity.example/t", false},
		{"https://identity.example/t?x=1", false},
		{"https://identity.example/t#f", false},
		{"/oauth2/token", false},
		{"identity.example/oauth2/token", false},
		{"", false},
		{"https://%zz", false},
	}
	for _, tt := range tests {
		err := ValidateEndpoint(tt.endpoint)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateEndpoint(%q) = %v, want ok=%v", tt.endpoint, err, tt.ok)
		}
		var ce *ConfigError
		if err != nil && !errors.As(err, &ce) {
			t.Errorf("ValidateEndpoint(%q) = %T, want *ConfigError", tt.endpoint, err)
		}
	}
}

func TestCredentialsFileErrors(t *testing.T) {
	const secret = "very-secret-value"
	tests := []struct {
		name, content, want string
	}{
		{"not JSON", `{"serviceAccount":{"secret":"` + secret + `"`, "not valid JSON"},
		{"wrong shape", `{"serviceAccount":{"secret":12}}`, "expected shape"},
		{"no serviceAccount", `{"other":{}}`, `no "serviceAccount"`},
		{"unsupported algorithm", `{"serviceAccount":{"keyId":"k","secret":"` + secret + `","email":"e","algorithm":"RS256"}}`, "only HS256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadCredentialsFile(writeFile(t, tt.content))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error quotes the secret: %v", err)
			}
		})
	}
	if _, err := ReadCredentialsFile(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestCredentialsStringHidesSecret(t *testing.T) {
	c := Credentials{KeyID: "k", Email: "e", Secret: "hidden-secret", TokenEndpoint: "https://x/t"}
	for _, s := range []string{c.String(), c.GoString()} {
		if strings.Contains(s, "hidden-secret") {
			t.Errorf("%q shows the secret", s)
		}
	}
}

func TestValidateAccountLeavesOutTheSecret(t *testing.T) {
	c := Credentials{KeyID: "k", Email: "e", TokenEndpoint: DefaultTokenEndpoint}
	if err := c.ValidateAccount(); err != nil {
		t.Errorf("ValidateAccount without a secret: %v", err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Errorf("Validate without a secret = %v, want it to name the secret", err)
	}
	c.Email = ""
	if err := c.ValidateAccount(); err == nil || !strings.Contains(err.Error(), "email") || strings.Contains(err.Error(), "secret") {
		t.Errorf("ValidateAccount without an email = %v, want only the email named", err)
	}
	c.Email, c.TokenEndpoint = "e", "http://identity.example/t"
	if err := c.ValidateAccount(); err == nil {
		t.Error("ValidateAccount accepted a plain http endpoint")
	}
}
