package gitcred

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/internal/hosts"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

const secretToken = "tok-SECRET-1234567890"

var expiry = time.Unix(1893456000, 0) // 2030-01-01

// newTokens is a fake Tokens that hands out secretToken and records calls.
func newTokens() *testutil.FakeTokens {
	return &testutil.FakeTokens{Tok: &oauth2.Token{AccessToken: secretToken, TokenType: "Bearer", Expiry: expiry}}
}

// testSet serves the DT hosts and localhost:8080 with the default profile,
// and staging.example.com with profile staging.
func testSet(t *testing.T) *hosts.Set {
	t.Helper()
	set, err := hosts.Default("localhost:8080", hosts.Route{Host: "staging.example.com", Profile: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestHandleGet(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		want        string
		wantProfile []string
	}{
		{
			name:        "password",
			in:          "protocol=https\nhost=api.d21s.com\n\n",
			want:        "username=oauth2accesstoken\npassword=" + secretToken + "\npassword_expiry_utc=1893456000\n",
			wantProfile: []string{""},
		},
		{
			name:        "username kept",
			in:          "protocol=https\nhost=api.disruptive-technologies.com\nusername=alice\npath=v2/x\n",
			want:        "username=alice\npassword=" + secretToken + "\npassword_expiry_utc=1893456000\n",
			wantProfile: []string{""},
		},
		{
			name: "authtype",
			in: "capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=emulator.disruptive-technologies.com\n" +
				"wwwauth[]=Bearer realm=\"x\"\nwwwauth[]=Basic\n",
			want: "capability[]=authtype\nauthtype=Bearer\ncredential=" + secretToken +
				"\nephemeral=1\npassword_expiry_utc=1893456000\n",
			wantProfile: []string{""},
		},
		{
			name:        "capability list cleared",
			in:          "capability[]=authtype\ncapability[]=\nprotocol=https\nhost=api.d21s.com\n",
			want:        "username=oauth2accesstoken\npassword=" + secretToken + "\npassword_expiry_utc=1893456000\n",
			wantProfile: []string{""},
		},
		{
			name:        "crlf, mixed case, port 443, unknown attributes",
			in:          "protocol=https\r\nhost=API.D21S.com:443\r\nfuture_thing=1\r\n\r\n",
			want:        "username=oauth2accesstoken\npassword=" + secretToken + "\npassword_expiry_utc=1893456000\n",
			wantProfile: []string{""},
		},
		{
			name:        "http with port from DT_CREDENTIAL_HOSTS",
			in:          "protocol=http\nhost=localhost:8080\n",
			want:        "username=oauth2accesstoken\npassword=" + secretToken + "\npassword_expiry_utc=1893456000\n",
			wantProfile: []string{""},
		},
		{
			name:        "profile host",
			in:          "protocol=https\nhost=staging.example.com\n",
			want:        "username=oauth2accesstoken\npassword=" + secretToken + "\npassword_expiry_utc=1893456000\n",
			wantProfile: []string{"staging"},
		},
		{
			name:        "input after the blank line is not read",
			in:          "protocol=https\nhost=api.d21s.com\n\nthis line has no equals sign\n",
			want:        "username=oauth2accesstoken\npassword=" + secretToken + "\npassword_expiry_utc=1893456000\n",
			wantProfile: []string{""},
		},
		// Hosts that get no token (which ones is package hosts' to say, and
		// tested there): no output, no token request.
		{name: "other host", in: "protocol=https\nhost=github.com\n"},
		{name: "other port", in: "protocol=https\nhost=api.d21s.com:8443\n"},
		{name: "path trick", in: "protocol=https\nhost=evil.example\npath=api.d21s.com\n"},
		{name: "ssh", in: "protocol=ssh\nhost=api.d21s.com\n"},
		{name: "plain http to a DT host", in: "protocol=http\nhost=api.d21s.com\n"},
		{name: "no protocol", in: "host=api.d21s.com\n"},
		{name: "no host", in: "protocol=https\n"},
		{name: "empty input", in: ""},
		{name: "only blank line", in: "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTokens()
			var out bytes.Buffer
			if err := Handle(context.Background(), "get", strings.NewReader(tt.in), &out, testSet(t), p, nil); err != nil {
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

// TestHandleGetAuthtype: git 2.46+ says it can take a bearer credential
// (capability[]=authtype) and passes on the server's WWW-Authenticate
// challenges (wwwauth[]). A bearer credential is answered only when the
// server offered Bearer or nothing; a server that asked for Basic alone gets
// username and password, as git before 2.46 does, since it would refuse a
// Bearer header.
func TestHandleGetAuthtype(t *testing.T) {
	const (
		bearer = "capability[]=authtype\nauthtype=Bearer\ncredential=" + secretToken + "\nephemeral=1\npassword_expiry_utc=1893456000\n"
		basic  = "username=oauth2accesstoken\npassword=" + secretToken + "\npassword_expiry_utc=1893456000\n"
	)
	tests := []struct {
		name    string
		wwwauth []string // one wwwauth[] line each
		noCap   bool     // git did not send capability[]=authtype
		want    string
	}{
		{name: "no challenge", want: bearer},
		{name: "Bearer only", wwwauth: []string{`Bearer realm="dt"`}, want: bearer},
		{name: "Bearer without parameters", wwwauth: []string{"Bearer"}, want: bearer},
		{name: "scheme is case-insensitive", wwwauth: []string{`bEaReR realm="dt"`}, want: bearer},
		{name: "Basic then Bearer", wwwauth: []string{`Basic realm="dt"`, `Bearer realm="dt"`}, want: bearer},
		{name: "Bearer then Basic", wwwauth: []string{`Bearer realm="dt"`, `Basic realm="dt"`}, want: bearer},
		{name: "two challenges in one header", wwwauth: []string{`Basic realm="dt", Bearer realm="dt"`}, want: bearer},
		{name: "Bearer after a token68 challenge", wwwauth: []string{`Negotiate a2V5==, Bearer`}, want: bearer},
		{name: "Basic only", wwwauth: []string{`Basic realm="dt"`}, want: basic},
		{name: "Basic lower case", wwwauth: []string{`basic realm="dt"`}, want: basic},
		{name: "Basic and Negotiate", wwwauth: []string{`Negotiate`, `Basic realm="dt"`}, want: basic},
		{name: "Bearer inside a quoted realm", wwwauth: []string{`Basic realm="Bearer, Bearer x"`}, want: basic},
		{name: "Bearer as a parameter name", wwwauth: []string{`Basic bearer=1, realm="dt"`}, want: basic},
		{name: "scheme that starts with Bearer", wwwauth: []string{`Bearerish realm="dt"`}, want: basic},
		{name: "escaped quote in a realm", wwwauth: []string{`Basic realm="a\", Bearer x"`}, want: basic},
		{name: "Bearer offered but git cannot take it", wwwauth: []string{`Bearer realm="dt"`}, noCap: true, want: basic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := "protocol=https\nhost=api.d21s.com\n"
			if !tt.noCap {
				in = "capability[]=authtype\n" + in
			}
			for _, w := range tt.wwwauth {
				in += "wwwauth[]=" + w + "\n"
			}
			var out bytes.Buffer
			if err := Handle(context.Background(), "get", strings.NewReader(in), &out, testSet(t), newTokens(), nil); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if diff := cmp.Diff(tt.want, out.String()); diff != "" {
				t.Errorf("input %q: output (-want +got):\n%s", in, diff)
			}
		})
	}
}

// TestHandleLogsWhyNoToken: a host that gets no token gets no answer, and
// the log says why and how to add a host; with no log, nothing is said.
func TestHandleLogsWhyNoToken(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		// Why a host is not served is package hosts' to say (and test):
		// here, that its reason reaches the log.
		{"protocol=https\nhost=git.example.com\npath=private/repo\nusername=alice\n",
			[]string{"no token for https://git.example.com: not an allowed host; " + hosts.EnvHosts}},
		{"protocol=http\nhost=api.d21s.com\n", []string{"no token for http://api.d21s.com: tokens go only over https"}},
		{"protocol=https\n", []string{"no token for a request without a host"}},
		{"host=api.d21s.com\n", []string{"no token for a request without a protocol"}},
	}
	for _, tt := range tests {
		for _, action := range []string{"get", "erase"} {
			t.Run(action+" "+tt.in, func(t *testing.T) {
				var out, log bytes.Buffer
				p := newTokens()
				l := slog.New(slog.NewTextHandler(&log, nil))
				if err := Handle(context.Background(), action, strings.NewReader(tt.in+"password=x\n"), &out, testSet(t), p, l); err != nil {
					t.Fatalf("Handle: %v", err)
				}
				if out.Len() != 0 || len(p.TokenCalls) != 0 || len(p.Invalidated) != 0 {
					t.Errorf("output %q, Token calls %v, invalidated %v; want none", out.String(), p.TokenCalls, p.Invalidated)
				}
				for _, w := range append(tt.want, "git credential "+action) {
					if !strings.Contains(log.String(), w) {
						t.Errorf("log does not say %q:\n%s", w, log.String())
					}
				}
				for _, w := range []string{"private/repo", "alice"} {
					if strings.Contains(log.String(), w) {
						t.Errorf("log shows %q:\n%s", w, log.String())
					}
				}
			})
		}
	}
	// store is ignored for every host: nothing to explain.
	var storeLog bytes.Buffer
	if err := Handle(context.Background(), "store", strings.NewReader("protocol=https\nhost=git.example.com\npassword=x\n"), io.Discard, testSet(t), newTokens(), slog.New(slog.NewTextHandler(&storeLog, nil))); err != nil || storeLog.Len() != 0 {
		t.Errorf("store for another host: err %v, log %q", err, storeLog.String())
	}
	// A served host is not logged about.
	var log bytes.Buffer
	if err := Handle(context.Background(), "get", strings.NewReader("protocol=https\nhost=api.d21s.com\n"), io.Discard, testSet(t), newTokens(), slog.New(slog.NewTextHandler(&log, nil))); err != nil || log.Len() != 0 {
		t.Errorf("served host: err %v, log %q", err, log.String())
	}
}

func TestHandleGetNoExpiry(t *testing.T) {
	p := &testutil.FakeTokens{Tok: &oauth2.Token{AccessToken: secretToken}}
	var out bytes.Buffer
	if err := Handle(context.Background(), "get", strings.NewReader("protocol=https\nhost=api.d21s.com\n"), &out, testSet(t), p, nil); err != nil {
		t.Fatal(err)
	}
	want := "username=oauth2accesstoken\npassword=" + secretToken + "\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

func TestHandleErrors(t *testing.T) {
	dt := "protocol=https\nhost=api.d21s.com\n"
	tests := []struct {
		name    string
		action  string
		in      io.Reader
		tokens  *testutil.FakeTokens
		wantErr string
	}{
		{name: "missing =", action: "get", in: strings.NewReader(dt + "garbage\n"), wantErr: `line 3: no "="`},
		{name: "empty key", action: "get", in: strings.NewReader("=x\n" + dt), wantErr: "empty attribute name"},
		{name: "empty list key", action: "get", in: strings.NewReader("[]=x\n" + dt), wantErr: "empty attribute name"},
		{name: "NUL", action: "get", in: strings.NewReader(dt + "password=a\x00b\n"), wantErr: "NUL"},
		{name: "stray CR", action: "get", in: strings.NewReader(dt + "username=a\rb\n"), wantErr: "carriage return"},
		{name: "CR at EOF", action: "get", in: strings.NewReader(dt + "username=a\r"), wantErr: "carriage return"},
		{
			name: "line of 65536 bytes", action: "get",
			in:      strings.NewReader(dt + "username=" + strings.Repeat("a", MaxLineBytes+1-len("username=")) + "\n"),
			wantErr: "longer than 65535 bytes",
		},
		{
			name: "line of 65536 bytes at EOF", action: "get",
			in:      strings.NewReader(dt + "username=" + strings.Repeat("a", MaxLineBytes+1-len("username="))),
			wantErr: "longer than 65535 bytes",
		},
		{
			name: "very long line", action: "get",
			in:      strings.NewReader(dt + "username=" + strings.Repeat("a", 10*MaxLineBytes) + "\n"),
			wantErr: "longer than 65535 bytes",
		},
		{
			name: "huge input", action: "get",
			in:      io.MultiReader(strings.NewReader(dt), endless("x=yyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\n")),
			wantErr: "input longer than 1048576 bytes",
		},
		{
			name: "huge input, bad last line", action: "get",
			in:      strings.NewReader(strings.Repeat("xy=z\n", MaxInputBytes/5) + "noequals\n"),
			wantErr: "input longer than 1048576 bytes",
		},
		{name: "store validates", action: "store", in: strings.NewReader(dt + "nope\n"), wantErr: `no "="`},
		{name: "erase validates", action: "erase", in: strings.NewReader(dt + "nope\n"), wantErr: `no "="`},
		{
			name: "provider error", action: "get", in: strings.NewReader(dt),
			tokens:  &testutil.FakeTokens{Err: errors.New("token endpoint unreachable")},
			wantErr: "token endpoint unreachable",
		},
		{
			name: "empty token", action: "get", in: strings.NewReader(dt),
			tokens:  &testutil.FakeTokens{Tok: &oauth2.Token{}},
			wantErr: "empty token",
		},
		{
			name: "nil token", action: "get", in: strings.NewReader(dt),
			tokens:  &testutil.FakeTokens{},
			wantErr: "empty token",
		},
		{
			name: "token with newline", action: "get", in: strings.NewReader(dt),
			tokens:  &testutil.FakeTokens{Tok: &oauth2.Token{AccessToken: secretToken + "\nusername=evil"}},
			wantErr: "contains a newline",
		},
		{
			name: "invalidate error", action: "erase", in: strings.NewReader(dt + "password=" + secretToken + "\n"),
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
			err := Handle(context.Background(), tt.action, tt.in, &out, testSet(t), p, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Handle error = %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), secretToken) {
				t.Errorf("error %q contains the token", err)
			}
			if out.Len() != 0 {
				t.Errorf("output on error: %q", out.String())
			}
		})
	}
}

// endless repeats s forever, like a runaway writer on the other end of stdin.
func endless(s string) io.Reader {
	return &repeatReader{s: s}
}

type repeatReader struct {
	s   string
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.s[r.off:])
		n += c
		r.off = (r.off + c) % len(r.s)
	}
	return n, nil
}

func TestHandleStoreAndOtherActions(t *testing.T) {
	tests := []struct {
		action string
		in     string
	}{
		{"store", "protocol=https\nhost=api.d21s.com\nusername=oauth2accesstoken\npassword=" + secretToken + "\n"},
		{"store", "protocol=https\nhost=github.com\nusername=u\npassword=p\n"},
		{"frobnicate", "not even attributes"},
		{"", ""},
		{"capability", "version 0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			p := newTokens()
			var out bytes.Buffer
			if err := Handle(context.Background(), tt.action, strings.NewReader(tt.in), &out, testSet(t), p, nil); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if out.Len() != 0 {
				t.Errorf("output: %q", out.String())
			}
			if len(p.TokenCalls) != 0 || len(p.Invalidated) != 0 {
				t.Errorf("provider called: Token %v, Invalidate %v", p.TokenCalls, p.Invalidated)
			}
		})
	}
}

func TestHandleErase(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want [][2]string
	}{
		{
			name: "password",
			in:   "protocol=https\nhost=api.d21s.com\nusername=oauth2accesstoken\npassword=" + secretToken + "\n",
			want: [][2]string{{"", secretToken}},
		},
		{
			name: "credential",
			in:   "capability[]=authtype\nprotocol=https\nhost=staging.example.com\nauthtype=Bearer\ncredential=" + secretToken + "\n",
			want: [][2]string{{"staging", secretToken}},
		},
		{name: "no password", in: "protocol=https\nhost=api.d21s.com\nusername=x\n"},
		{name: "other host", in: "protocol=https\nhost=github.com\npassword=" + secretToken + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTokens()
			var out bytes.Buffer
			if err := Handle(context.Background(), "erase", strings.NewReader(tt.in), &out, testSet(t), p, nil); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if diff := cmp.Diff(tt.want, p.Invalidated); diff != "" {
				t.Errorf("Invalidate calls (-want +got):\n%s", diff)
			}
			if out.Len() != 0 || len(p.TokenCalls) != 0 {
				t.Errorf("output %q, Token calls %v; want none", out.String(), p.TokenCalls)
			}
		})
	}
}

func TestParse(t *testing.T) {
	in := "protocol=https\nhost=x\nhost=y\nwwwauth[]=a\nwwwauth[]=b=c\nempty=\nk[]=1\nk[]=\nk[]=2\n\nafter=1\n"
	got, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := Attributes{
		Values: map[string]string{"protocol": "https", "host": "y", "empty": ""},
		Lists:  map[string][]string{"wwwauth": {"a", "b=c"}, "k": {"2"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
	text, err := got.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	wantText := "empty=\nhost=y\nprotocol=https\nk[]=2\nwwwauth[]=a\nwwwauth[]=b=c\n"
	if diff := cmp.Diff(wantText, string(text)); diff != "" {
		t.Errorf("MarshalText (-want +got):\n%s", diff)
	}
}

func TestParseLongestLine(t *testing.T) {
	line := "k=" + strings.Repeat("v", MaxLineBytes-2)
	got, err := Parse(strings.NewReader(line + "\r\n"))
	if err != nil {
		t.Fatalf("Parse of a %d byte line: %v", len(line), err)
	}
	if len(got.Get("k")) != MaxLineBytes-2 {
		t.Errorf("value has %d bytes, want %d", len(got.Get("k")), MaxLineBytes-2)
	}
}

func TestParseReadsNothingAfterBlankLine(t *testing.T) {
	// Before the blank line: fine; after it the reader fails, which Parse
	// must not notice, since git may keep the pipe open.
	in := io.MultiReader(strings.NewReader("a=b\n\n"), errReader{})
	if _, err := Parse(in); err != nil {
		t.Fatalf("Parse: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("read after blank line") }

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "\n", "protocol=https\nhost=api.d21s.com\n\n",
		"capability[]=authtype\ncapability[]=\nwwwauth[]=Bearer\r\n",
		"a=b\r\r\n", "x\n", "=y\n", "a=\x00\n", "k[]=\nk[]=v\n", "a[]b=c\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := Parse(bytes.NewReader(in))
		if err != nil {
			if bytes.Contains(in, []byte("SECRET")) && strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("error %q quotes the input", err)
			}
			return
		}
		for k, v := range a.Values {
			if strings.HasSuffix(k, "[]") || strings.ContainsAny(k+v, "\n\r\x00") || strings.Contains(k, "=") || k == "" {
				t.Fatalf("Parse(%q) produced bad attribute %q=%q", in, k, v)
			}
		}
		for k, vs := range a.Lists {
			for _, v := range vs {
				if v == "" {
					t.Fatalf("Parse(%q) kept an empty value in list %q", in, k)
				}
			}
		}
		text, err := a.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText of parsed %q: %v", in, err)
		}
		b, err := Parse(bytes.NewReader(text))
		if err != nil {
			t.Fatalf("Parse(MarshalText(Parse(%q))): %v", in, err)
		}
		if diff := cmp.Diff(a, b, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip of %q (-first +second):\n%s", in, diff)
		}
	})
}

func FuzzHandleGet(f *testing.F) {
	for _, s := range []string{
		"protocol=https\nhost=api.d21s.com\n", "protocol=https\nhost=API.D21S.COM.:443\n",
		"protocol=https\nhost=api.d21s.com.evil.example\n", "protocol=http\nhost=localhost:8080\n",
		"capability[]=authtype\nprotocol=https\nhost=api.d21s.com\n",
		"capability[]=authtype\nprotocol=https\nhost=api.d21s.com\nwwwauth[]=Basic realm=\"a\\\", Bearer\"\n",
		"capability[]=authtype\nprotocol=https\nhost=api.d21s.com\nwwwauth[]=Negotiate x==, bearer\n",
		"protocol=https\nhost=api.d21s.com:80\n", "protocol=http\nhost=api.d21s.com:80\n",
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
		err = Handle(context.Background(), "get", strings.NewReader(in), &out, set, p, nil)
		if err != nil {
			if out.Len() != 0 {
				t.Fatalf("output on error: %q", out.String())
			}
			return
		}
		// A token goes out exactly when the set serves the host git named,
		// over the protocol it named (whether the set is right is
		// FuzzResolve's to check, in package hosts).
		a, _ := Parse(strings.NewReader(in))
		_, why := set.Resolve(a.Get("protocol"), a.Get("host"))
		if served := a.Get("protocol") != "" && why == nil; served != (len(p.TokenCalls) == 1) {
			t.Fatalf("protocol %q host %q: Token calls %v, but the set says %v", a.Get("protocol"), a.Get("host"), p.TokenCalls, why)
		}
		if len(p.TokenCalls) == 0 {
			if out.Len() != 0 {
				t.Fatalf("output without a token: %q", out.String())
			}
			return
		}
		if !strings.Contains(out.String(), secretToken) {
			t.Fatalf("answer without the token: %q", out.String())
		}
		// Bearer only to a git that said it can take it.
		if strings.Contains(out.String(), "authtype=Bearer\n") && !a.Has("capability", "authtype") {
			t.Fatalf("authtype=Bearer for a git without capability[]=authtype: %q", in)
		}
	})
}
