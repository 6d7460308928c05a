package dockercred

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

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

func testSet(t testing.TB) *hosts.Set {
	t.Helper()
	staging, err := hosts.ParseList("staging.example.com", "staging")
	if err != nil {
		t.Fatal(err)
	}
	extra, err := hosts.ParseList("localhost:8080,[::1]:9000", "")
	if err != nil {
		t.Fatal(err)
	}
	set, err := hosts.NewSet(append(append(hosts.DefaultRoutes(), extra...), staging...))
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
	for _, in := range []string{
		"registry-1.docker.io",
		"https://index.docker.io/v1/",
		"https://api.d21s.com.evil.example",
		"https://evil.example/api.d21s.com",
		"evil.example/api.d21s.com",
		"https://api.d21s.com@evil.example",
		"https://evil.example@api.d21s.com",
		"https://api.d21s.com:8443",
		"https://api.d21s.com:80",
		"api.d21s.com:80",
		"http://api.d21s.com",
		"http://api.d21s.com:80",
		"http://staging.example.com",
		"http://localhost",
		"https://[::1]",
		"ftp://api.d21s.com",
		"https://api.d21s.com:badport",
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

// TestGetPorts: the port a request goes to is exact, and a URL without one
// goes to its scheme's default port (https 443, http 80; https when the URL
// has no scheme).
func TestGetPorts(t *testing.T) {
	set, err := hosts.Default("localhost:80, 127.0.0.1:8443, tls.example:443, dev:80")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url  string
		want bool
	}{
		{"https://api.d21s.com", true},
		{"https://api.d21s.com:443", true},
		{"https://api.d21s.com:0443/v2/", true},
		{"api.d21s.com:443", true},
		{"https://api.d21s.com:80", false},
		{"api.d21s.com:80", false},
		{"https://api.d21s.com:8443", false},
		// localhost:80 is http's default port, and port 80 under https.
		{"http://localhost", true},
		{"http://localhost:80", true},
		{"https://localhost:80", true},
		{"localhost:80", true},
		{"https://localhost", false},
		{"https://localhost:443", false},
		{"http://localhost:443", false},
		// 127.0.0.1:8443 is port 8443 only.
		{"https://127.0.0.1:8443", true},
		{"http://127.0.0.1:8443", true},
		{"https://127.0.0.1", false},
		{"http://127.0.0.1", false},
		// tls.example:443 is https's default port.
		{"https://tls.example", true},
		{"tls.example", true},
		{"https://tls.example:443", true},
		{"https://tls.example:80", false},
		// dev:80 matches https://dev:80 only: http://dev is not loopback.
		{"https://dev:80", true},
		{"http://dev", false},
		{"http://dev:80", false},
		{"https://dev", false},
		{"https://dev:443", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			p := newTokens()
			var out bytes.Buffer
			err := Handle(context.Background(), "get", strings.NewReader(tt.url), &out, set, p, "v1", nil)
			if tt.want {
				if err != nil || out.String() != creds(tt.url) || len(p.TokenCalls) != 1 {
					t.Errorf("get: error %v, output %q, Token calls %v; want the token", err, out.String(), p.TokenCalls)
				}
			} else if !credentials.IsErrCredentialsNotFound(err) || out.Len() != 0 || len(p.TokenCalls) != 0 {
				t.Errorf("get: error %v, output %q, Token calls %v; want credentials not found and no token", err, out.String(), p.TokenCalls)
			}
			// erase routes the same way.
			p = newTokens()
			err = Handle(context.Background(), "erase", strings.NewReader(tt.url), io.Discard, set, p, "v1", nil)
			if erased := err == nil && len(p.Invalidated) == 1; erased != tt.want {
				t.Errorf("erase: error %v, Invalidate calls %v; want erased %v", err, p.Invalidated, tt.want)
			}
		})
	}
}

// TestGetPlainHTTP: like git, docker hands a token over plain http only to a
// loopback host; any other http server is answered exactly like an unknown
// host, on stdout with exit 1.
func TestGetPlainHTTP(t *testing.T) {
	set, err := hosts.Default("localhost:8080, 127.0.0.1:5000, [::1]:9000, dt.example:5000")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url  string
		want bool
	}{
		{"http://localhost:8080", true},
		{"http://LOCALHOST:8080/v2/", true},
		{"http://127.0.0.1:5000", true},
		{"http://[::1]:9000", true},
		{"http://api.d21s.com", false},
		{"http://api.d21s.com/v2/", false},
		{"http://API.D21S.COM.:80", false},
		{"http://api.disruptive-technologies.com", false},
		{"http://dt.example:5000", false},
		{"https://dt.example:5000", true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			p := newTokens()
			var out bytes.Buffer
			code := Run(context.Background(), "get", strings.NewReader(tt.url+"\n"), &out, set, p, "v1", nil)
			want, wantCode, wantCalls := "credentials not found in native keychain\n", 1, 0
			if tt.want {
				want, wantCode, wantCalls = creds(tt.url), 0, 1
			}
			if diff := cmp.Diff([]any{want, wantCode, wantCalls}, []any{out.String(), code, len(p.TokenCalls)}); diff != "" {
				t.Errorf("Run get (-want +got):\n%s", diff)
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
		{"https://registry.example.com/v2/", []string{"https://registry.example.com: not an allowed host", hosts.EnvHosts, "login --hosts"}},
		{"registry.example.com:5000", []string{"https://registry.example.com:5000: not an allowed host"}},
		{"https://[2001:db8::1]:5000", []string{"https://[2001:db8::1]:5000: not an allowed host"}},
		{"http://api.d21s.com", []string{"http://api.d21s.com", "only over https", "loopback"}},
		{"https://u:pa55word@api.d21s.com", []string{"user information"}},
		{"ftp://api.d21s.com", []string{"scheme must be https or http"}},
		{"https://api.d21s.com/\xff", []string{"not valid UTF-8"}},
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
		{"DT host on another port", `{"ServerURL":"https://api.d21s.com:8443","Username":"u","Secret":"p"}`, false},
		{"DT host over plain http", `{"ServerURL":"http://api.d21s.com","Username":"u","Secret":"p"}`, false},
		{"a DT host as user name", `{"ServerURL":"https://api.d21s.com@registry.example.com","Username":"u","Secret":"p"}`, false},
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
		if _, ok := testSet(t).ResolveURL(serverURL); !ok {
			t.Errorf("listed %q does not resolve", serverURL)
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

// urlHostIsDefault is an oracle independent of package hosts: the URL is
// https (explicitly or by having no scheme; DT hosts are not loopback, so
// never plain http), and net/url's host, lower-cased, without a trailing
// dot, is a DT host with no port or https's default port 443.
func urlHostIsDefault(s string) bool {
	if !strings.Contains(s, "://") && !strings.HasPrefix(s, "//") {
		s = "//" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.User != nil {
		return false
	}
	if u.Scheme != "" && u.Scheme != "https" { // url.Parse lower-cases it
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	switch strings.TrimLeft(u.Port(), "0") {
	case "", "443":
	default:
		return false
	}
	for _, d := range hosts.DefaultHosts() {
		if host == d {
			return true
		}
	}
	return false
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
		if err != nil {
			if out.Len() != 0 {
				t.Fatalf("output on error: %q", out.String())
			}
			if len(p.TokenCalls) != 0 {
				t.Fatalf("token requested for %q, then failed: %v", in, err)
			}
			return
		}
		serverURL := strings.TrimSpace(in)
		if !urlHostIsDefault(serverURL) {
			t.Fatalf("token handed out for %q", in)
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
		if err == nil && (!valid || !urlHostIsDefault(c.ServerURL)) {
			t.Fatalf("store %q accepted: valid JSON %v, DT host %v", in, valid, valid && urlHostIsDefault(c.ServerURL))
		}
		if err != nil && !storeErr.MatchString(err.Error()) {
			t.Fatalf("store %q: error %q may quote the input", in, err)
		}
	})
}
