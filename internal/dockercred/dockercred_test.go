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
	"time"
	"unicode/utf8"

	"github.com/docker/docker-credential-helpers/credentials"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/internal/hosts"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

const secretToken = "tok-SECRET-1234567890"

// newTokens is a fake Tokens that hands out secretToken and records calls.
func newTokens() *testutil.FakeTokens {
	return &testutil.FakeTokens{Tok: &oauth2.Token{AccessToken: secretToken, Expiry: time.Unix(1893456000, 0)}}
}

// testSet serves the DT hosts, localhost:8080 and [::1]:9000 with the
// default profile, and staging.example.com with profile staging.
func testSet(t testing.TB) *hosts.Set {
	t.Helper()
	set, err := hosts.Default("localhost:8080,[::1]:9000", hosts.Route{Host: "staging.example.com", Profile: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func creds(serverURL string) string {
	return `{"ServerURL":"` + serverURL + `","Username":"oauth2accesstoken","Secret":"` + secretToken + `"}` + "\n"
}

func TestGet(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		want        string
		wantProfile []string
	}{
		{name: "bare host", in: "api.d21s.com", want: creds("api.d21s.com"), wantProfile: []string{""}},
		{name: "https url", in: "https://api.disruptive-technologies.com/v2\n", want: creds("https://api.disruptive-technologies.com/v2"), wantProfile: []string{""}},
		{name: "mixed case", in: "  https://API.D21S.com/  \n", want: creds("https://API.D21S.com/"), wantProfile: []string{""}},
		{name: "default port", in: "https://emulator.disruptive-technologies.com:443", want: creds("https://emulator.disruptive-technologies.com:443"), wantProfile: []string{""}},
		{name: "extra host", in: "http://localhost:8080", want: creds("http://localhost:8080"), wantProfile: []string{""}},
		{name: "ipv6", in: "https://[::1]:9000", want: creds("https://[::1]:9000"), wantProfile: []string{""}},
		{name: "profile", in: "staging.example.com", want: creds("staging.example.com"), wantProfile: []string{"staging"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTokens()
			var out bytes.Buffer
			if err := Handle(context.Background(), "get", strings.NewReader(tt.in), &out, testSet(t), p, "v1", nil); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if diff := cmp.Diff(tt.want, out.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantProfile, p.TokenCalls); diff != "" {
				t.Errorf("Token calls (-want +got):\n%s", diff)
			}
		})
	}
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
			p := newTokens()
			var out bytes.Buffer
			err := Handle(context.Background(), "get", strings.NewReader(in), &out, testSet(t), p, "v1", nil)
			if !credentials.IsErrCredentialsNotFound(err) {
				t.Fatalf("Handle error = %v, want credentials not found", err)
			}
			if diff := cmp.Diff("credentials not found in native keychain", err.Error()); diff != "" {
				t.Errorf("error text (-want +got):\n%s", diff)
			}
			if out.Len() != 0 || len(p.TokenCalls) != 0 {
				t.Errorf("output %q, Token calls %v; want none", out.String(), p.TokenCalls)
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
				var out, log bytes.Buffer
				p := newTokens()
				err := Handle(context.Background(), action, strings.NewReader(tt.url), &out, testSet(t), p, "v1", slog.New(slog.NewTextHandler(&log, nil)))
				if !credentials.IsErrCredentialsNotFound(err) || out.Len() != 0 || len(p.TokenCalls) != 0 || len(p.Invalidated) != 0 {
					t.Errorf("err %v, output %q, Token calls %v, invalidated %v; want not found and nothing else", err, out.String(), p.TokenCalls, p.Invalidated)
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
	tests := []struct {
		name    string
		action  string
		in      io.Reader
		tokens  *testutil.FakeTokens
		wantErr string
	}{
		{name: "get empty", action: "get", in: strings.NewReader(""), wantErr: "no credentials server URL"},
		{name: "get blank", action: "get", in: strings.NewReader(" \n\t\n"), wantErr: "no credentials server URL"},
		{name: "erase empty", action: "erase", in: strings.NewReader("\n"), wantErr: "no credentials server URL"},
		{name: "get huge", action: "get", in: strings.NewReader("api.d21s.com" + strings.Repeat(" ", MaxInputBytes)), wantErr: "input longer than"},
		{name: "erase other host", action: "erase", in: strings.NewReader("https://index.docker.io/v1/"), wantErr: "credentials not found in native keychain"},
		{name: "erase plain http", action: "erase", in: strings.NewReader("http://api.d21s.com"), wantErr: "credentials not found in native keychain"},
		{
			name: "provider error", action: "get", in: strings.NewReader("api.d21s.com"),
			tokens:  &testutil.FakeTokens{Err: errors.New("token endpoint unreachable")},
			wantErr: "token endpoint unreachable",
		},
		{name: "empty token", action: "get", in: strings.NewReader("api.d21s.com"), tokens: &testutil.FakeTokens{Tok: &oauth2.Token{}}, wantErr: "empty token"},
		{name: "nil token", action: "get", in: strings.NewReader("api.d21s.com"), tokens: &testutil.FakeTokens{}, wantErr: "empty token"},
		{name: "store not JSON", action: "store", in: strings.NewReader(`{"ServerURL":"x","Secret":"` + secretToken + `\q"}`), wantErr: "invalid credentials JSON at byte offset"},
		{name: "store truncated", action: "store", in: strings.NewReader(`{"ServerURL":"x","Secret":"` + secretToken), wantErr: "invalid credentials JSON"},
		{name: "store empty", action: "store", in: strings.NewReader(""), wantErr: "invalid credentials JSON"},
		{name: "store array", action: "store", in: strings.NewReader(`["` + secretToken + `"]`), wantErr: "want an object"},
		{name: "store wrong type", action: "store", in: strings.NewReader(`{"ServerURL":"x","Username":"u","Secret":1}`), wantErr: "want an object"},
		{name: "store trailing data", action: "store", in: strings.NewReader(`{"ServerURL":"x","Username":"u"} {}`), wantErr: "invalid credentials JSON"},
		{name: "store no server", action: "store", in: strings.NewReader(`{"Username":"u","Secret":"s"}`), wantErr: "no credentials server URL"},
		{name: "store null", action: "store", in: strings.NewReader(`null`), wantErr: "no credentials server URL"},
		{name: "store no user", action: "store", in: strings.NewReader(`{"ServerURL":"api.d21s.com","Secret":"s"}`), wantErr: "no credentials username"},
		{name: "store huge", action: "store", in: strings.NewReader(`{"ServerURL":"x","Username":"u","Secret":"` + strings.Repeat("s", MaxInputBytes) + `"}`), wantErr: "input longer than"},
		{name: "unknown action", action: "frobnicate", in: strings.NewReader(""), wantErr: "docker-credential-dt: unknown action: frobnicate"},
		{
			name: "erase provider error", action: "erase", in: strings.NewReader("api.d21s.com"),
			tokens:  &testutil.FakeTokens{Err: errors.New("cache locked")},
			wantErr: "cache locked",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.tokens
			if p == nil {
				p = newTokens()
			}
			var out bytes.Buffer
			err := Handle(context.Background(), tt.action, tt.in, &out, testSet(t), p, "v1", nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Handle error = %v, want one containing %q", err, tt.wantErr)
			}
			var herr *Error
			if !errors.As(err, &herr) || herr.Action != tt.action {
				t.Errorf("Handle error %#v is not an *Error for action %q", err, tt.action)
			}
			if strings.Contains(err.Error(), secretToken) || strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error %q contains the secret", err)
			}
			if out.Len() != 0 {
				t.Errorf("output on error: %q", out.String())
			}
		})
	}
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
		{"DT host", `{"ServerURL":"https://api.d21s.com","Username":"oauth2accesstoken","Secret":"` + secretToken + `"}`, true},
		{"DT host, bare, extra field", "{\n  \"ServerURL\": \"api.disruptive-technologies.com\",\n  \"Username\": \"u\",\n  \"Secret\": \"p\",\n  \"Extra\": true\n}\n", true},
		{"a profile's host", `{"ServerURL":"https://staging.example.com","Username":"u","Secret":"p"}`, true},
		{"loopback http host listed", `{"ServerURL":"http://localhost:8080","Username":"u","Secret":"p"}`, true},
		{"another registry", `{"ServerURL":"registry.example.com","Username":"u","Secret":"` + secretToken + `"}`, false},
		{"docker hub", `{"ServerURL":"https://index.docker.io/v1/","Username":"u","Secret":"p"}`, false},
		{"DT host over plain http", `{"ServerURL":"http://api.d21s.com","Username":"u","Secret":"p"}`, false},
		{"not a URL", `{"ServerURL":"x y","Username":"u","Secret":"p"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTokens()
			var out, log bytes.Buffer
			err := Handle(context.Background(), "store", strings.NewReader(tt.in), &out, testSet(t), p, "v1", slog.New(slog.NewTextHandler(&log, nil)))
			if out.Len() != 0 || len(p.TokenCalls) != 0 || len(p.Invalidated) != 0 {
				t.Errorf("output %q, Token %v, Invalidate %v; want none", out.String(), p.TokenCalls, p.Invalidated)
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
			if strings.Contains(err.Error(), secretToken) || strings.Contains(err.Error(), "registry.example.com") {
				t.Errorf("store error quotes the input: %q", err)
			}
			// --verbose says why, as for get.
			if !strings.Contains(log.String(), Name+" store: not kept: ") || strings.Contains(log.String(), secretToken) {
				t.Errorf("log does not say why, or shows the secret:\n%s", log.String())
			}
			// Run prints it on stdout and exits 1, which docker login reports.
			out.Reset()
			if code := Run(context.Background(), "store", strings.NewReader(tt.in), &out, testSet(t), newTokens(), "v1", nil); code != 1 || out.String() != err.Error()+"\n" {
				t.Errorf("Run: exit %d, stdout %q; want 1 and %q", code, out.String(), err.Error()+"\n")
			}
		})
	}
}

func TestErase(t *testing.T) {
	tests := []struct {
		in   string
		want [][2]string
	}{
		{"https://api.d21s.com/", [][2]string{{"", ""}}},
		{"STAGING.example.com\n", [][2]string{{"staging", ""}}},
	}
	for _, tt := range tests {
		p := newTokens()
		var out bytes.Buffer
		if err := Handle(context.Background(), "erase", strings.NewReader(tt.in), &out, testSet(t), p, "v1", nil); err != nil {
			t.Fatalf("erase %q: %v", tt.in, err)
		}
		if diff := cmp.Diff(tt.want, p.Invalidated); diff != "" {
			t.Errorf("erase %q: Invalidate calls (-want +got):\n%s", tt.in, diff)
		}
		if out.Len() != 0 || len(p.TokenCalls) != 0 {
			t.Errorf("erase %q: output %q, Token calls %v; want none", tt.in, out.String(), p.TokenCalls)
		}
	}
}

func TestList(t *testing.T) {
	p := newTokens()
	var out bytes.Buffer
	if err := Handle(context.Background(), "list", strings.NewReader("ignored"), &out, testSet(t), p, "v1", nil); err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("list output %q: %v", out.String(), err)
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
		if _, err := testSet(t).ResolveURL(serverURL); err != nil {
			t.Errorf("listed %q does not resolve: %v", serverURL, err)
		}
	}
	if len(p.TokenCalls) != 0 {
		t.Errorf("list requested tokens: %v", p.TokenCalls)
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := Handle(context.Background(), "version", strings.NewReader(""), &out, testSet(t), newTokens(), "v1.2.3", nil); err != nil {
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
			code := Run(context.Background(), tt.action, strings.NewReader(tt.in), &out, testSet(t), newTokens(), "v1", nil)
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
		set, err := hosts.Default("")
		if err != nil {
			t.Fatal(err)
		}
		p := newTokens()
		var out bytes.Buffer
		err = Handle(context.Background(), "get", strings.NewReader(in), &out, set, p, "v1", nil)
		serverURL := strings.TrimSpace(in)
		if (err == nil) != served(set, serverURL) {
			t.Fatalf("get %q: error %v, but served %v", in, err, served(set, serverURL))
		}
		if err != nil {
			if out.Len() != 0 {
				t.Fatalf("output on error: %q", out.String())
			}
			if len(p.TokenCalls) != 0 {
				t.Fatalf("token requested for %q, then failed: %v", in, err)
			}
			return
		}
		var c credentials.Credentials
		if err := json.Unmarshal(out.Bytes(), &c); err != nil {
			t.Fatalf("output %q: %v", out.String(), err)
		}
		want := credentials.Credentials{ServerURL: serverURL, Username: Username, Secret: secretToken}
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
		set, err := hosts.Default("")
		if err != nil {
			t.Fatal(err)
		}
		p := newTokens()
		var out bytes.Buffer
		err = Handle(context.Background(), "store", strings.NewReader(in), &out, set, p, "v1", nil)
		if out.Len() != 0 || len(p.TokenCalls) != 0 || len(p.Invalidated) != 0 {
			t.Fatalf("store %q: output %q, Token %v, Invalidate %v; want none", in, out.String(), p.TokenCalls, p.Invalidated)
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
