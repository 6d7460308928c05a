package dockercred

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/docker/docker-credential-helpers/credentials"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/internal/hosts"
	"github.com/dt-credential-helper/dt-credential-helper/internal/hosts/hoststest"
)

// handle is Handle with version v1, as hoststest.Call takes it.
func handle(ctx context.Context, action string, in io.Reader, out io.Writer, set *hosts.Set, p hosts.Tokens, log *slog.Logger) error {
	return Handle(ctx, action, in, out, set, p, "v1", log)
}

func creds(serverURL string) string {
	return `{"ServerURL":"` + serverURL + `","Username":"oauth2accesstoken","Secret":"` + hoststest.Token + `"}` + "\n"
}

func TestGet(t *testing.T) {
	tests := []hoststest.Case{
		{Name: "bare host", In: "api.d21s.com", Want: creds("api.d21s.com"), Profiles: []string{""}},
		{Name: "https url", In: "https://api.disruptive-technologies.com/v2\n", Want: creds("https://api.disruptive-technologies.com/v2"), Profiles: []string{""}},
		{Name: "mixed case", In: "  https://API.D21S.com/  \n", Want: creds("https://API.D21S.com/"), Profiles: []string{""}},
		{Name: "default port", In: "https://emulator.disruptive-technologies.com:443", Want: creds("https://emulator.disruptive-technologies.com:443"), Profiles: []string{""}},
		{Name: "extra host", In: "http://localhost:8080", Want: creds("http://localhost:8080"), Profiles: []string{""}},
		{Name: "ipv6", In: "https://[::1]:9000", Want: creds("https://[::1]:9000"), Profiles: []string{""}},
		{Name: "profile", In: "staging.example.com", Want: creds("staging.example.com"), Profiles: []string{"staging"}},
	}
	hoststest.Run(t, handle, "get", tests)
}

func TestGetNotFound(t *testing.T) {
	// Which servers get no token is package hosts' to say (and test);
	// here, that each is answered as docker expects.
	for _, in := range []string{
		"registry-1.docker.io",
		"https://index.docker.io/v1/",
		"https://api.d21s.com@evil.example",
		"api.d21s.com:80",
		"http://api.d21s.com",
		"ftp://api.d21s.com",
		"https://api.d21s.com/\xa6", // not UTF-8: cannot be echoed in JSON
	} {
		t.Run(in, func(t *testing.T) {
			p := hoststest.NewTokens()
			out, err := hoststest.Call(t, handle, "get", strings.NewReader(in), p, nil)
			if !credentials.IsErrCredentialsNotFound(err) || err.Error() != "credentials not found in native keychain" {
				t.Fatalf("Handle error = %v, want credentials not found in docker's words", err)
			}
			if out != "" || len(p.TokenCalls) != 0 {
				t.Errorf("output %q, Token calls %v; want none", out, p.TokenCalls)
			}
		})
	}
}

// TestLogsWhyNoToken: a server that gets no token is "credentials not
// found", and the log says why and how to add a host, never quoting the URL.
func TestLogsWhyNoToken(t *testing.T) {
	tests := []struct {
		url  string
		want []string
	}{
		// Why a server is not served is package hosts' to say (and test):
		// here, that its reason reaches the log.
		{"https://registry.example.com/v2/", []string{"no token for https://registry.example.com: not an allowed host; " + hosts.EnvHosts}},
		{"https://u:pa55word@api.d21s.com", []string{"no token for an invalid server url: user information"}},
		{"https://api.d21s.com/\xff", []string{"no token for a server url that is not valid UTF-8"}},
	}
	for _, tt := range tests {
		for _, action := range []string{"get", "erase"} {
			t.Run(action+" "+tt.url, func(t *testing.T) {
				var log bytes.Buffer
				p := hoststest.NewTokens()
				out, err := hoststest.Call(t, handle, action, strings.NewReader(tt.url), p, slog.New(slog.NewTextHandler(&log, nil)))
				if !credentials.IsErrCredentialsNotFound(err) || out != "" || len(p.TokenCalls) != 0 || len(p.Invalidated) != 0 {
					t.Errorf("err %v, output %q, Token calls %v, invalidated %v; want not found and nothing else", err, out, p.TokenCalls, p.Invalidated)
				}
				for _, w := range append(tt.want, Name+" "+action) {
					if !strings.Contains(log.String(), w) {
						t.Errorf("log does not say %q:\n%s", w, log.String())
					}
				}
				if strings.Contains(log.String(), "pa55word") {
					t.Errorf("log shows the password:\n%s", log.String())
				}
			})
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []hoststest.Failure{
		{Name: "get empty", Action: "get", In: strings.NewReader(""), WantErr: "no credentials server URL"},
		{Name: "get blank", Action: "get", In: strings.NewReader(" \n\t\n"), WantErr: "no credentials server URL"},
		{Name: "erase empty", Action: "erase", In: strings.NewReader("\n"), WantErr: "no credentials server URL"},
		{Name: "get huge", Action: "get", In: strings.NewReader("api.d21s.com" + strings.Repeat(" ", MaxInputBytes)), WantErr: "input longer than"},
		{Name: "erase other host", Action: "erase", In: strings.NewReader("https://index.docker.io/v1/"), WantErr: "credentials not found in native keychain"},
		{Name: "erase plain http", Action: "erase", In: strings.NewReader("http://api.d21s.com"), WantErr: "credentials not found in native keychain"},
		{
			Name: "provider error", Action: "get", In: strings.NewReader("api.d21s.com"),
			Tokens:  &hoststest.FakeTokens{Err: errors.New("token endpoint unreachable")},
			WantErr: "token endpoint unreachable",
		},
		{Name: "empty token", Action: "get", In: strings.NewReader("api.d21s.com"), Tokens: &hoststest.FakeTokens{Tok: &oauth2.Token{}}, WantErr: "empty token"},
		{Name: "nil token", Action: "get", In: strings.NewReader("api.d21s.com"), Tokens: &hoststest.FakeTokens{}, WantErr: "empty token"},
		{Name: "store not JSON", Action: "store", In: strings.NewReader(`{"ServerURL":"x","Secret":"` + hoststest.Token + `\q"}`), WantErr: "invalid credentials JSON at byte offset"},
		{Name: "store truncated", Action: "store", In: strings.NewReader(`{"ServerURL":"x","Secret":"` + hoststest.Token), WantErr: "invalid credentials JSON"},
		{Name: "store empty", Action: "store", In: strings.NewReader(""), WantErr: "invalid credentials JSON"},
		{Name: "store array", Action: "store", In: strings.NewReader(`["` + hoststest.Token + `"]`), WantErr: "want an object"},
		{Name: "store wrong type", Action: "store", In: strings.NewReader(`{"ServerURL":"x","Username":"u","Secret":1}`), WantErr: "want an object"},
		{Name: "store trailing data", Action: "store", In: strings.NewReader(`{"ServerURL":"x","Username":"u"} {}`), WantErr: "invalid credentials JSON"},
		{Name: "store no server", Action: "store", In: strings.NewReader(`{"Username":"u","Secret":"s"}`), WantErr: "no credentials server URL"},
		{Name: "store null", Action: "store", In: strings.NewReader(`null`), WantErr: "no credentials server URL"},
		{Name: "store no user", Action: "store", In: strings.NewReader(`{"ServerURL":"api.d21s.com","Secret":"s"}`), WantErr: "no credentials username"},
		{Name: "store huge", Action: "store", In: strings.NewReader(`{"ServerURL":"x","Username":"u","Secret":"` + strings.Repeat("s", MaxInputBytes) + `"}`), WantErr: "input longer than"},
		{Name: "unknown action", Action: "frobnicate", In: strings.NewReader(""), WantErr: "docker-credential-dt: unknown action: frobnicate"},
		{
			Name: "erase provider error", Action: "erase", In: strings.NewReader("api.d21s.com"),
			Tokens:  &hoststest.FakeTokens{Err: errors.New("cache locked")},
			WantErr: "cache locked",
		},
	}
	hoststest.RunFailures(t, handle, tests, func(t *testing.T, f hoststest.Failure, err error) {
		var herr *Error
		if !errors.As(err, &herr) || herr.Action != f.Action {
			t.Errorf("Handle error %#v is not an *Error for action %q", err, f.Action)
		}
	})
}

// TestStore: a store for a host the helper serves is accepted and ignored
// (tokens come from the cache); any other store fails with a message that
// says why, so that docker login with credsStore "dt" reports the failure
// instead of losing the login.
func TestStore(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"DT host", `{"ServerURL":"https://api.d21s.com","Username":"oauth2accesstoken","Secret":"` + hoststest.Token + `"}`, true},
		{"DT host, bare, extra field", "{\n  \"ServerURL\": \"api.disruptive-technologies.com\",\n  \"Username\": \"u\",\n  \"Secret\": \"p\",\n  \"Extra\": true\n}\n", true},
		{"a profile's host", `{"ServerURL":"https://staging.example.com","Username":"u","Secret":"p"}`, true},
		{"loopback http host listed", `{"ServerURL":"http://localhost:8080","Username":"u","Secret":"p"}`, true},
		{"another registry", `{"ServerURL":"registry.example.com","Username":"u","Secret":"` + hoststest.Token + `"}`, false},
		{"docker hub", `{"ServerURL":"https://index.docker.io/v1/","Username":"u","Secret":"p"}`, false},
		{"DT host over plain http", `{"ServerURL":"http://api.d21s.com","Username":"u","Secret":"p"}`, false},
		{"not a URL", `{"ServerURL":"x y","Username":"u","Secret":"p"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := hoststest.NewTokens()
			var log bytes.Buffer
			out, err := hoststest.Call(t, handle, "store", strings.NewReader(tt.in), p, slog.New(slog.NewTextHandler(&log, nil)))
			if out != "" || len(p.TokenCalls) != 0 || len(p.Invalidated) != 0 {
				t.Errorf("output %q, Token %v, Invalidate %v; want none", out, p.TokenCalls, p.Invalidated)
			}
			if tt.ok {
				if err != nil {
					t.Errorf("store: %v, want accepted", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "use credHelpers for DT hosts") {
				t.Fatalf("store: %v, want an error saying to use credHelpers for DT hosts", err)
			}
			if strings.Contains(err.Error(), hoststest.Token) || strings.Contains(err.Error(), "registry.example.com") {
				t.Errorf("store error quotes the input: %q", err)
			}
			// --verbose says why, as for get.
			if !strings.Contains(log.String(), Name+" store: not kept: ") || strings.Contains(log.String(), hoststest.Token) {
				t.Errorf("log does not say why, or shows the secret:\n%s", log.String())
			}
			// Run prints it on stdout and exits 1, which docker login reports.
			var stdout bytes.Buffer
			if code := Run(context.Background(), "store", strings.NewReader(tt.in), &stdout, hoststest.Set(t), hoststest.NewTokens(), "v1", nil); code != 1 || stdout.String() != err.Error()+"\n" {
				t.Errorf("Run: exit %d, stdout %q; want 1 and %q", code, stdout.String(), err.Error()+"\n")
			}
		})
	}
}

func TestErase(t *testing.T) {
	hoststest.Run(t, handle, "erase", []hoststest.Case{
		{Name: "DT host", In: "https://api.d21s.com/", Invalidated: [][2]string{{"", ""}}},
		{Name: "profile", In: "STAGING.example.com\n", Invalidated: [][2]string{{"staging", ""}}},
	})
}

func TestList(t *testing.T) {
	p := hoststest.NewTokens()
	out, err := hoststest.Call(t, handle, "list", strings.NewReader("ignored"), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("list output %q: %v", out, err)
	}
	want := map[string]string{
		"https://api.disruptive-technologies.com":      "oauth2accesstoken",
		"https://api.d21s.com":                         "oauth2accesstoken",
		"https://emulator.disruptive-technologies.com": "oauth2accesstoken",
		"https://localhost:8080":                       "oauth2accesstoken",
		"https://[::1]:9000":                           "oauth2accesstoken",
		"https://staging.example.com":                  "oauth2accesstoken",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}
	// Every listed server URL must itself get a token: docker's GetAll
	// calls get for each key.
	for serverURL := range got {
		if _, err := hoststest.Set(t).ResolveURL(serverURL); err != nil {
			t.Errorf("listed %q does not resolve: %v", serverURL, err)
		}
	}
	if len(p.TokenCalls) != 0 {
		t.Errorf("list requested tokens: %v", p.TokenCalls)
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := Handle(context.Background(), "version", strings.NewReader(""), &out, hoststest.Set(t), hoststest.NewTokens(), "v1.2.3", nil); err != nil {
		t.Fatal(err)
	}
	want := "docker-credential-dt (github.com/dt-credential-helper/dt-credential-helper) v1.2.3\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("version (-want +got):\n%s", diff)
	}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name     string
		action   string
		in       string
		wantOut  string
		wantCode int
	}{
		{name: "ok", action: "get", in: "api.d21s.com", wantOut: creds("api.d21s.com"), wantCode: 0},
		{name: "not found on stdout", action: "get", in: "index.docker.io", wantOut: "credentials not found in native keychain\n", wantCode: 1},
		{name: "plain http is not found", action: "get", in: "http://api.d21s.com", wantOut: "credentials not found in native keychain\n", wantCode: 1},
		{name: "missing url on stdout", action: "get", in: "", wantOut: "no credentials server URL\n", wantCode: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			code := Run(context.Background(), tt.action, strings.NewReader(tt.in), &out, hoststest.Set(t), hoststest.NewTokens(), "v1", nil)
			if diff := cmp.Diff([]any{tt.wantOut, tt.wantCode}, []any{out.String(), code}); diff != "" {
				t.Errorf("Run (-want +got):\n%s", diff)
			}
			if tt.wantCode == 1 && !credentials.IsErrCredentialsNotFoundMessage(out.String()) && strings.Contains(tt.wantOut, "not found") {
				t.Errorf("docker would not recognise %q as not found", out.String())
			}
		})
	}
}

// served says whether set serves serverURL as docker sends it (whether the
// set is right is package hosts' FuzzParseServerURL to check): a token must
// go out exactly then.
func served(set *hosts.Set, serverURL string) bool {
	_, err := set.ResolveURL(serverURL)
	return err == nil && utf8.ValidString(serverURL)
}

func FuzzGet(f *testing.F) {
	for _, s := range []string{
		"api.d21s.com", "https://api.d21s.com/v2", "https://api.d21s.com.evil.example",
		"https://evil.example/api.d21s.com", "https://api.d21s.com@evil.example",
		"HTTPS://API.D21S.COM.:443", "http://[::1]:8080", "", " \n", "https://a%2eb",
		"http://api.d21s.com", "https://api.d21s.com:80", "api.d21s.com:80", "https://api.d21s.com:0443",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		set, p := hoststest.Set(t), hoststest.NewTokens()
		out, err := hoststest.Call(t, handle, "get", strings.NewReader(in), p, nil)
		serverURL := strings.TrimSpace(in)
		if (err == nil) != served(set, serverURL) {
			t.Fatalf("get %q: error %v, but served %v", in, err, served(set, serverURL))
		}
		if err != nil {
			if out != "" {
				t.Fatalf("output on error: %q", out)
			}
			if len(p.TokenCalls) != 0 {
				t.Fatalf("token requested for %q, then failed: %v", in, err)
			}
			return
		}
		var c credentials.Credentials
		if err := json.Unmarshal([]byte(out), &c); err != nil {
			t.Fatalf("output %q: %v", out, err)
		}
		want := credentials.Credentials{ServerURL: serverURL, Username: Username, Secret: hoststest.Token}
		if diff := cmp.Diff(want, c); diff != "" {
			t.Fatalf("get %q (-want +got):\n%s", in, diff)
		}
	})
}

// storeErr is the shape of every store error: fixed text and numbers only,
// never a piece of the input.
var storeErr = regexp.MustCompile(`^(invalid credentials JSON( at byte offset \d+)?(: want an object with string fields ServerURL, Username and Secret)?|no credentials server URL|no credentials username|input longer than \d+ bytes|` + regexp.QuoteMeta(ErrStoreNotServed.Error()) + `)$`)

func FuzzStore(f *testing.F) {
	for _, s := range []string{
		`{"ServerURL":"https://api.d21s.com","Username":"u","Secret":"s"}`,
		`{"ServerURL":"registry.example.com","Username":"u","Secret":"s"}`,
		`{"ServerURL":"x","Username":"u","Secret":"\q"}`, `{"ServerURL":1}`, `null`, `[]`, ``, `{`,
		`{"ServerURL":"x","Username":"u"} trailing`, "{\"Username\":\"\u00e9\"}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		set, p := hoststest.Set(t), hoststest.NewTokens()
		out, err := hoststest.Call(t, handle, "store", strings.NewReader(in), p, nil)
		if out != "" || len(p.TokenCalls) != 0 || len(p.Invalidated) != 0 {
			t.Fatalf("store %q: output %q, Token %v, Invalidate %v; want none", in, out, p.TokenCalls, p.Invalidated)
		}
		var c credentials.Credentials
		valid := json.Unmarshal([]byte(in), &c) == nil && c.ServerURL != "" && c.Username != ""
		if valid && err != nil && !errors.Is(err, ErrStoreNotServed) {
			t.Fatalf("store %q: error %v, but the credentials JSON is valid", in, err)
		}
		// Accepted only when valid and for a DT host: any other store must
		// fail, or a docker login is lost silently.
		if (err == nil) != (valid && served(set, c.ServerURL)) {
			t.Fatalf("store %q: error %v; valid JSON %v, served %v", in, err, valid, valid && served(set, c.ServerURL))
		}
		if err != nil && !storeErr.MatchString(err.Error()) {
			t.Fatalf("store %q: error %q may quote the input", in, err)
		}
	})
}
