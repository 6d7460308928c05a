package gitcred

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/internal/hosts"
	"github.com/dt-credential-helper/dt-credential-helper/internal/hosts/hoststest"
)

// basicAnswer is get's answer with hoststest's token as a password.
const basicAnswer = "username=oauth2accesstoken\npassword=" + hoststest.Token + "\npassword_expiry_utc=1893456000\n"

func TestHandleGet(t *testing.T) {
	tests := []hoststest.Case{
		{Name: "password", In: "protocol=https\nhost=api.d21s.com\n\n", Want: basicAnswer, Profiles: []string{""}},
		{
			Name:     "username kept",
			In:       "protocol=https\nhost=api.disruptive-technologies.com\nusername=alice\npath=v2/x\n",
			Want:     "username=alice\npassword=" + hoststest.Token + "\npassword_expiry_utc=1893456000\n",
			Profiles: []string{""},
		},
		{
			Name: "authtype",
			In: "capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=emulator.disruptive-technologies.com\n" +
				"wwwauth[]=Bearer realm=\"x\"\nwwwauth[]=Basic\n",
			Want: "capability[]=authtype\nauthtype=Bearer\ncredential=" + hoststest.Token +
				"\nephemeral=1\npassword_expiry_utc=1893456000\n",
			Profiles: []string{""},
		},
		{Name: "capability list cleared", In: "capability[]=authtype\ncapability[]=\nprotocol=https\nhost=api.d21s.com\n", Want: basicAnswer, Profiles: []string{""}},
		{Name: "crlf, mixed case, port 443, unknown attributes", In: "protocol=https\r\nhost=API.D21S.com:443\r\nfuture_thing=1\r\n\r\n", Want: basicAnswer, Profiles: []string{""}},
		{Name: "http with port from DT_CREDENTIAL_HOSTS", In: "protocol=http\nhost=localhost:8080\n", Want: basicAnswer, Profiles: []string{""}},
		{Name: "profile host", In: "protocol=https\nhost=staging.example.com\n", Want: basicAnswer, Profiles: []string{"staging"}},
		{Name: "input after the blank line is not read", In: "protocol=https\nhost=api.d21s.com\n\nthis line has no equals sign\n", Want: basicAnswer, Profiles: []string{""}},
		// Hosts that get no token (which ones is package hosts' to say, and
		// tested there): no output, no token request.
		{Name: "other host", In: "protocol=https\nhost=github.com\n"},
		{Name: "other port", In: "protocol=https\nhost=api.d21s.com:8443\n"},
		{Name: "path trick", In: "protocol=https\nhost=evil.example\npath=api.d21s.com\n"},
		{Name: "ssh", In: "protocol=ssh\nhost=api.d21s.com\n"},
		{Name: "plain http to a DT host", In: "protocol=http\nhost=api.d21s.com\n"},
		{Name: "no protocol", In: "host=api.d21s.com\n"},
		{Name: "no host", In: "protocol=https\n"},
		{Name: "empty input", In: ""},
		{Name: "only blank line", In: "\n"},
	}
	hoststest.Run(t, Handle, "get", tests)
}

// TestHandleGetAuthtype: git 2.46+ says it can take a bearer credential
// (capability[]=authtype) and passes on the server's WWW-Authenticate
// challenges (wwwauth[]). A bearer credential is answered only when the
// server offered Bearer or nothing; a server that asked for Basic alone gets
// username and password, as git before 2.46 does, since it would refuse a
// Bearer header.
func TestHandleGetAuthtype(t *testing.T) {
	const (
		bearer = "capability[]=authtype\nauthtype=Bearer\ncredential=" + hoststest.Token + "\nephemeral=1\npassword_expiry_utc=1893456000\n"
		basic  = basicAnswer
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
			out, err := hoststest.Call(t, Handle, "get", strings.NewReader(in), hoststest.NewTokens(), nil)
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if diff := cmp.Diff(tt.want, out); diff != "" {
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
				var log bytes.Buffer
				p := hoststest.NewTokens()
				out, err := hoststest.Call(t, Handle, action, strings.NewReader(tt.in+"password=x\n"), p, slog.New(slog.NewTextHandler(&log, nil)))
				if err != nil || out != "" || len(p.TokenCalls) != 0 || len(p.Invalidated) != 0 {
					t.Errorf("error %v, output %q, Token calls %v, invalidated %v; want none", err, out, p.TokenCalls, p.Invalidated)
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
	// A served host is not logged about either.
	for action, in := range map[string]string{"store": "protocol=https\nhost=git.example.com\npassword=x\n", "get": "protocol=https\nhost=api.d21s.com\n"} {
		var log bytes.Buffer
		if _, err := hoststest.Call(t, Handle, action, strings.NewReader(in), hoststest.NewTokens(), slog.New(slog.NewTextHandler(&log, nil))); err != nil || log.Len() != 0 {
			t.Errorf("%s %q: err %v, log %q", action, in, err, log.String())
		}
	}
}

func TestHandleGetNoExpiry(t *testing.T) {
	p := &hoststest.FakeTokens{Tok: &oauth2.Token{AccessToken: hoststest.Token}}
	out, err := hoststest.Call(t, Handle, "get", strings.NewReader("protocol=https\nhost=api.d21s.com\n"), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "username=oauth2accesstoken\npassword=" + hoststest.Token + "\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

func TestHandleErrors(t *testing.T) {
	dt := "protocol=https\nhost=api.d21s.com\n"
	tests := []hoststest.Failure{
		{Name: "missing =", Action: "get", In: strings.NewReader(dt + "garbage\n"), WantErr: `line 3: no "="`},
		{Name: "empty key", Action: "get", In: strings.NewReader("=x\n" + dt), WantErr: "empty attribute name"},
		{Name: "empty list key", Action: "get", In: strings.NewReader("[]=x\n" + dt), WantErr: "empty attribute name"},
		{Name: "NUL", Action: "get", In: strings.NewReader(dt + "password=a\x00b\n"), WantErr: "NUL"},
		{Name: "stray CR", Action: "get", In: strings.NewReader(dt + "username=a\rb\n"), WantErr: "carriage return"},
		{Name: "CR at EOF", Action: "get", In: strings.NewReader(dt + "username=a\r"), WantErr: "carriage return"},
		{
			Name: "line of 65536 bytes", Action: "get",
			In:      strings.NewReader(dt + "username=" + strings.Repeat("a", MaxLineBytes+1-len("username=")) + "\n"),
			WantErr: "longer than 65535 bytes",
		},
		{
			Name: "line of 65536 bytes at EOF", Action: "get",
			In:      strings.NewReader(dt + "username=" + strings.Repeat("a", MaxLineBytes+1-len("username="))),
			WantErr: "longer than 65535 bytes",
		},
		{
			Name: "very long line", Action: "get",
			In:      strings.NewReader(dt + "username=" + strings.Repeat("a", 10*MaxLineBytes) + "\n"),
			WantErr: "longer than 65535 bytes",
		},
		{
			Name: "huge input", Action: "get",
			In:      io.MultiReader(strings.NewReader(dt), endless("x=yyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\n")),
			WantErr: "input longer than 1048576 bytes",
		},
		{
			Name: "huge input, bad last line", Action: "get",
			In:      strings.NewReader(strings.Repeat("xy=z\n", MaxInputBytes/5) + "noequals\n"),
			WantErr: "input longer than 1048576 bytes",
		},
		{Name: "store validates", Action: "store", In: strings.NewReader(dt + "nope\n"), WantErr: `no "="`},
		{Name: "erase validates", Action: "erase", In: strings.NewReader(dt + "nope\n"), WantErr: `no "="`},
		{
			Name: "provider error", Action: "get", In: strings.NewReader(dt),
			Tokens:  &hoststest.FakeTokens{Err: errors.New("token endpoint unreachable")},
			WantErr: "token endpoint unreachable",
		},
		{
			Name: "empty token", Action: "get", In: strings.NewReader(dt),
			Tokens:  &hoststest.FakeTokens{Tok: &oauth2.Token{}},
			WantErr: "empty token",
		},
		{
			Name: "nil token", Action: "get", In: strings.NewReader(dt),
			Tokens:  &hoststest.FakeTokens{},
			WantErr: "empty token",
		},
		{
			Name: "token with newline", Action: "get", In: strings.NewReader(dt),
			Tokens:  &hoststest.FakeTokens{Tok: &oauth2.Token{AccessToken: hoststest.Token + "\nusername=evil"}},
			WantErr: "contains a newline",
		},
		{
			Name: "invalidate error", Action: "erase", In: strings.NewReader(dt + "password=" + hoststest.Token + "\n"),
			Tokens:  &hoststest.FakeTokens{Err: errors.New("cache locked")},
			WantErr: "cache locked",
		},
	}
	hoststest.RunFailures(t, Handle, tests, nil)
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
		{"store", "protocol=https\nhost=api.d21s.com\nusername=oauth2accesstoken\npassword=" + hoststest.Token + "\n"},
		{"store", "protocol=https\nhost=github.com\nusername=u\npassword=p\n"},
		{"frobnicate", "not even attributes"},
		{"", ""},
		{"capability", "version 0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			p := hoststest.NewTokens()
			out, err := hoststest.Call(t, Handle, tt.action, strings.NewReader(tt.in), p, nil)
			if err != nil || out != "" || len(p.TokenCalls) != 0 || len(p.Invalidated) != 0 {
				t.Errorf("error %v, output %q, Token calls %v, invalidated %v; want none", err, out, p.TokenCalls, p.Invalidated)
			}
		})
	}
}

func TestHandleErase(t *testing.T) {
	tests := []hoststest.Case{
		{
			Name:        "password",
			In:          "protocol=https\nhost=api.d21s.com\nusername=oauth2accesstoken\npassword=" + hoststest.Token + "\n",
			Invalidated: [][2]string{{"", hoststest.Token}},
		},
		{
			Name:        "credential",
			In:          "capability[]=authtype\nprotocol=https\nhost=staging.example.com\nauthtype=Bearer\ncredential=" + hoststest.Token + "\n",
			Invalidated: [][2]string{{"staging", hoststest.Token}},
		},
		{Name: "no password", In: "protocol=https\nhost=api.d21s.com\nusername=x\n"},
		{Name: "other host", In: "protocol=https\nhost=github.com\npassword=" + hoststest.Token + "\n"},
	}
	hoststest.Run(t, Handle, "erase", tests)
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
		set := hoststest.Set(t)
		p := hoststest.NewTokens()
		out, err := hoststest.Call(t, Handle, "get", strings.NewReader(in), p, nil)
		if err != nil {
			if out != "" {
				t.Fatalf("output on error: %q", out)
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
			if out != "" {
				t.Fatalf("output without a token: %q", out)
			}
			return
		}
		if !strings.Contains(out, hoststest.Token) {
			t.Fatalf("answer without the token: %q", out)
		}
		// Bearer only to a git that said it can take it.
		if strings.Contains(out, "authtype=Bearer\n") && !a.Has("capability", "authtype") {
			t.Fatalf("authtype=Bearer for a git without capability[]=authtype: %q", in)
		}
	})
}
