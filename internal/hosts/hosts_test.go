package hosts

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseEntry(t *testing.T) {
	tests := []struct {
		entry    string
		wantHost string
		wantPort string
		wantErr  bool
	}{
		{entry: "api.d21s.com", wantHost: "api.d21s.com"},
		{entry: "  API.D21S.com.  ", wantHost: "api.d21s.com"},
		{entry: "localhost:8080", wantHost: "localhost", wantPort: "8080"},
		{entry: "localhost:08080", wantHost: "localhost", wantPort: "8080"},
		{entry: "example.com:443", wantHost: "example.com", wantPort: "443"}, // no scheme says 443 is the default
		{entry: "example.com:80", wantHost: "example.com", wantPort: "80"},
		{entry: "example.com:0443", wantHost: "example.com", wantPort: "443"},
		{entry: "example.com:", wantHost: "example.com"},
		{entry: "127.0.0.1:9000", wantHost: "127.0.0.1", wantPort: "9000"},
		{entry: "[::1]:8080", wantHost: "::1", wantPort: "8080"},
		{entry: "[::1]", wantHost: "::1"},
		{entry: "[0:0::1]", wantHost: "::1"},
		{entry: "[FE80::1]", wantHost: "fe80::1"},
		{entry: "", wantErr: true},
		{entry: "::1", wantErr: true},
		{entry: "::1:8080", wantErr: true},
		{entry: "[::1", wantErr: true},
		{entry: "[::1]x", wantErr: true},
		{entry: "[1.2.3.4]", wantErr: true},
		{entry: "[example.com]", wantErr: true},
		{entry: "[zz::1]", wantErr: true},
		{entry: "https://api.d21s.com", wantErr: true},
		{entry: "api.d21s.com/v2", wantErr: true},
		{entry: "user@api.d21s.com", wantErr: true},
		{entry: "host:port", wantErr: true},
		{entry: "host:0", wantErr: true},
		{entry: "host:65536", wantErr: true},
		{entry: "host:+80", wantErr: true},
		{entry: "host:-1", wantErr: true},
		{entry: "a..b", wantErr: true},
		{entry: ".", wantErr: true},
		{entry: "..", wantErr: true},
		{entry: "a b", wantErr: true},
		{entry: "ex\u212aample.com", wantErr: true}, // Kelvin sign, folds to "k" under strings.ToLower
		{entry: "bücher.example", wantErr: true},
		{entry: strings.Repeat("a", 64) + ".com", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			host, port, err := ParseEntry(tt.entry)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseEntry(%q) error = %v, want error %v", tt.entry, err, tt.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), strings.TrimSpace(tt.entry)) {
					t.Errorf("error %q does not name the entry %q", err, tt.entry)
				}
				return
			}
			if diff := cmp.Diff([]string{tt.wantHost, tt.wantPort}, []string{host, port}); diff != "" {
				t.Errorf("ParseEntry(%q) (-want +got):\n%s", tt.entry, diff)
			}
		})
	}
}

func TestParseList(t *testing.T) {
	tests := []struct {
		name    string
		list    string
		want    []Route
		wantErr string
	}{
		{name: "empty", list: ""},
		{name: "blanks", list: " , ,"},
		{
			name: "whitespace and ports",
			list: " dt.example.com ,localhost:8080,\t[::1]:9000 ,",
			want: []Route{
				{Host: "dt.example.com", Profile: "p"},
				{Host: "localhost", Port: "8080", Profile: "p"},
				{Host: "::1", Port: "9000", Profile: "p"},
			},
		},
		{name: "bad entry named", list: "ok.example, bad host ,x", wantErr: `"bad host"`},
		{name: "bad port named", list: "ok.example,x:99999", wantErr: `"x:99999"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseList(tt.list, "p")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseList(%q) error = %v, want one containing %s", tt.list, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseList(%q): %v", tt.list, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseList(%q) (-want +got):\n%s", tt.list, diff)
			}
		})
	}
}

func TestParseEntries(t *testing.T) {
	got, err := ParseEntries([]string{" a.example ", "", "b.example:8443"}, "prof")
	if err != nil {
		t.Fatal(err)
	}
	want := []Route{{Host: "a.example", Profile: "prof"}, {Host: "b.example", Port: "8443", Profile: "prof"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseEntries (-want +got):\n%s", diff)
	}
	if _, err := ParseEntries([]string{"a,b"}, "prof"); err == nil {
		t.Error("ParseEntries accepted an entry with a comma")
	}
}

func TestParseServerURL(t *testing.T) {
	tests := []struct {
		url        string
		wantScheme string
		wantHost   string
		wantPort   string
		wantErr    bool
	}{
		{url: "api.d21s.com", wantScheme: "https", wantHost: "api.d21s.com"},
		{url: "https://api.d21s.com", wantScheme: "https", wantHost: "api.d21s.com"},
		{url: "https://api.d21s.com/", wantScheme: "https", wantHost: "api.d21s.com"},
		{url: "https://api.d21s.com/v2/projects?x=1#f", wantScheme: "https", wantHost: "api.d21s.com"},
		{url: "http://api.d21s.com", wantScheme: "http", wantHost: "api.d21s.com"},
		{url: "http://api.d21s.com:80/", wantScheme: "http", wantHost: "api.d21s.com"},
		{url: "http://api.d21s.com:443/", wantScheme: "http", wantHost: "api.d21s.com", wantPort: "443"},
		{url: "HTTPS://API.D21S.com.:443", wantScheme: "https", wantHost: "api.d21s.com"},
		{url: "https://api.d21s.com:0443", wantScheme: "https", wantHost: "api.d21s.com"},
		{url: "https://api.d21s.com:80", wantScheme: "https", wantHost: "api.d21s.com", wantPort: "80"},
		{url: "api.d21s.com:443", wantScheme: "https", wantHost: "api.d21s.com"},
		{url: "api.d21s.com:80", wantScheme: "https", wantHost: "api.d21s.com", wantPort: "80"},
		{url: "//api.d21s.com:8443", wantScheme: "https", wantHost: "api.d21s.com", wantPort: "8443"},
		{url: "  localhost:8080 ", wantScheme: "https", wantHost: "localhost", wantPort: "8080"},
		{url: "evil.example/api.d21s.com", wantScheme: "https", wantHost: "evil.example"},
		{url: "api.d21s.com.evil.example", wantScheme: "https", wantHost: "api.d21s.com.evil.example"},
		{url: "https://[::1]:8080/v2", wantScheme: "https", wantHost: "::1", wantPort: "8080"},
		{url: "[::1]", wantScheme: "https", wantHost: "::1"},
		{url: "http://[::1]:80", wantScheme: "http", wantHost: "::1"},
		{url: "https://[fe80::1%25eth0]/", wantScheme: "https", wantHost: "fe80::1%eth0"},
		{url: "", wantErr: true},
		{url: "https://", wantErr: true},
		{url: "https:///v2", wantErr: true},
		{url: "https://api.d21s.com@evil.example", wantErr: true},
		{url: "https://user:secret@api.d21s.com", wantErr: true},
		{url: "ftp://api.d21s.com", wantErr: true},
		{url: "unix:///var/run/docker.sock", wantErr: true},
		{url: "https://api.d21s.com:port", wantErr: true},
		{url: "https://api.d21s.com:0", wantErr: true},
		{url: "https://[::1", wantErr: true},
		{url: "https://a b.example", wantErr: true},
		{url: "https://api.d21s.com\\@evil.example", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			scheme, host, port, err := ParseServerURL(tt.url)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseServerURL(%q) = %q, %q, %q, %v; want error %v", tt.url, scheme, host, port, err, tt.wantErr)
			}
			if err != nil {
				if strings.Contains(tt.url, "secret") && strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q quotes the password", err)
				}
				return
			}
			if diff := cmp.Diff([]string{tt.wantScheme, tt.wantHost, tt.wantPort}, []string{scheme, host, port}); diff != "" {
				t.Errorf("ParseServerURL(%q) (-want +got):\n%s", tt.url, diff)
			}
		})
	}
}

func TestHTTPSServer(t *testing.T) {
	for _, c := range []struct {
		r    Route
		want string
	}{
		{Route{Host: "reg.example.com", Port: "443"}, "reg.example.com"},
		{Route{Host: "reg.example.com"}, "reg.example.com"},
		{Route{Host: "reg.example.com", Port: "8443"}, "reg.example.com:8443"},
		{Route{Host: "::1", Port: "443"}, "[::1]"},
		{Route{Host: "::1", Port: "80"}, "[::1]:80"},
	} {
		if got := c.r.HTTPSServer(); got != c.want {
			t.Errorf("%+v.HTTPSServer() = %q, want %q", c.r, got, c.want)
		}
	}
}

func TestDefaultPort(t *testing.T) {
	for scheme, want := range map[string]string{"https": "443", "http": "80", "HTTPS": "", "ssh": "", "": ""} {
		if got := DefaultPort(scheme); got != want {
			t.Errorf("DefaultPort(%q) = %q, want %q", scheme, got, want)
		}
	}
}

func testSet(t *testing.T) *Set {
	t.Helper()
	set, err := Default("localhost:8080, [::1]:9000, dt.example.com")
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// asGit cuts a test URL into what git would send for it, its protocol and
// host attributes, when it has no more than those; a URL without a scheme
// is https.
func asGit(u string) (scheme, hostport string, ok bool) {
	scheme, hostport, ok = strings.Cut(u, "://")
	if !ok {
		scheme, hostport = "https", u
	}
	return scheme, hostport, hostport != "" && !strings.ContainsAny(u, "/?#@ \t\n")
}

// TestResolveURL: an entry without a port is the request's scheme's
// default port; an entry with a port is that port only, whatever the
// scheme; and plain http gets a token only on a loopback host. Each request
// is asked as docker does (ResolveURL) and, when git could send it, as git
// does (Resolve).
func TestResolveURL(t *testing.T) {
	set, err := Default("localhost:80, 127.0.0.1:8443, [::1]:443, tls.example:443, dev:80")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url  string
		want bool
	}{
		// A DT host, listed without a port; not loopback, so https only.
		{"https://api.d21s.com", true},
		{"https://API.D21S.com.", true},
		{"https://api.d21s.com:443", true},
		{"https://api.d21s.com:0443", true},
		{"https://api.d21s.com:80", false},
		{"https://api.d21s.com:8443", false},
		{"http://api.d21s.com", false},
		{"http://api.d21s.com:80", false},
		{"http://api.d21s.com:443", false},
		// localhost:80 is http's default port, and port 80 under https.
		{"http://localhost", true},
		{"http://LOCALHOST:80", true},
		{"https://localhost:80", true},
		{"https://localhost", false},
		{"https://localhost:443", false},
		{"http://localhost:443", false},
		// 127.0.0.1:8443 is port 8443 only.
		{"https://127.0.0.1:8443", true},
		{"http://127.0.0.1:8443", true},
		{"https://127.0.0.1", false},
		{"http://127.0.0.1", false},
		{"http://127.0.0.1:80", false},
		// [::1]:443 is https's default port, and port 443 under http.
		{"https://[::1]", true},
		{"https://[0::1]:443", true},
		{"http://[::1]:443", true},
		{"http://[::1]", false},
		{"https://[::2]:443", false},
		// tls.example:443 is https's default port; not loopback.
		{"https://tls.example", true},
		{"https://tls.example:443", true},
		{"https://tls.example:80", false},
		{"http://tls.example:443", false},
		// dev:80 is port 80 under https only: http://dev is not loopback.
		{"https://dev:80", true},
		{"http://dev", false},
		{"http://dev:80", false},
		{"https://dev", false},
		{"https://dev:443", false},
		// As docker sends a URL: https without a scheme, its path, query
		// and fragment ignored, no user information.
		{"api.d21s.com", true},
		{"api.d21s.com:443", true},
		{"api.d21s.com:80", false},
		{"  https://API.D21S.com/v2/ \n", true},
		{"https://api.d21s.com:443/v2/", true},
		{"https://api.d21s.com.evil.example", false},
		{"https://evil.example/api.d21s.com", false},
		{"evil.example/api.d21s.com", false},
		{"https://api.d21s.com@evil.example", false},
		{"https://evil.example@api.d21s.com", false},
		{"https://evil.example?api.d21s.com", false},
		{"https://evil.example#api.d21s.com", false},
		{"ftp://api.d21s.com", false},
		{"https://api.d21s.com:badport", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			if _, err := set.ResolveURL(tt.url); (err == nil) != tt.want {
				t.Errorf("ResolveURL(%q) error = %v, want a token %v", tt.url, err, tt.want)
			}
			if scheme, hostport, ok := asGit(tt.url); ok {
				if _, err := set.Resolve(scheme, hostport); (err == nil) != tt.want {
					t.Errorf("Resolve(%q, %q) error = %v, want a token %v", scheme, hostport, err, tt.want)
				}
			}
		})
	}
}

// TestResolve: git's host attribute is a host entry taken exactly as sent,
// and the scheme is git's protocol attribute; anything else gets no token.
func TestResolve(t *testing.T) {
	set := testSet(t)
	tests := []struct {
		scheme, hostport string
		want             bool
	}{
		{"https", "api.disruptive-technologies.com", true},
		{"https", "emulator.disruptive-technologies.com", true},
		{"https", "dt.example.com", true},
		{"https", "localhost:8080", true},
		{"http", "localhost:8080", true},
		{"https", "[::1]:9000", true},
		{"ssh", "api.d21s.com", false},
		{"HTTPS", "api.d21s.com", false},
		{"", "api.d21s.com", false},
		{"https", "api.d21s.com.evil.example", false},
		{"https", "evil.example", false},
		{"https", "x.api.d21s.com", false},
		{"https", "d21s.com", false},
		{"https", "evil.example/api.d21s.com", false},
		{"https", "api.d21s.com@evil.example", false},
		{"https", "evil.example@api.d21s.com", false},
		{"https", "api.d21s.com..", false},
		{"https", "api.d21s.com ", false},
		{"https", " api.d21s.com", false},
		{"https", "localhost:8081", false},
		{"https", "::1:9000", false},
		{"https", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.scheme+"://"+tt.hostport, func(t *testing.T) {
			if _, err := set.Resolve(tt.scheme, tt.hostport); (err == nil) != tt.want {
				t.Errorf("Resolve(%q, %q) error = %v, want a token %v", tt.scheme, tt.hostport, err, tt.want)
			}
		})
	}
}

// TestResolveWhy: a request that gets no token is told why, in words that
// follow "no token for ": the request in canonical form and the rule, or how
// to add a host; never a password of the URL.
func TestResolveWhy(t *testing.T) {
	set := testSet(t)
	const notAllowed = ": not an allowed host; " + EnvHosts + " or 'dt-credential-helper login --hosts' adds one"
	const notHTTPS = ": tokens go only over https, or over plain http to a loopback address"
	tests := []struct {
		scheme string // "" for a URL, as docker asks
		host   string
		want   string
	}{
		{"https", "git.example.com", "https://git.example.com" + notAllowed},
		{"https", "API.D21S.com:08443", "https://api.d21s.com:8443" + notAllowed},
		{"http", "api.d21s.com", "http://api.d21s.com" + notHTTPS},
		{"ssh", "api.d21s.com", "ssh://api.d21s.com" + notHTTPS},
		{"https", "a b", `an invalid host: host entry "a b": invalid character in host name`},
		{"", "https://registry.example.com/v2/", "https://registry.example.com" + notAllowed},
		{"", "registry.example.com:5000", "https://registry.example.com:5000" + notAllowed},
		{"", "https://[2001:DB8::1]:5000", "https://[2001:db8::1]:5000" + notAllowed},
		{"", "http://api.d21s.com:80/v2/", "http://api.d21s.com" + notHTTPS},
		{"", "https://u:pa55word@api.d21s.com", "an invalid server url: user information is not allowed"},
		{"", "ftp://api.d21s.com", "an invalid server url: scheme must be https or http"},
	}
	for _, tt := range tests {
		t.Run(tt.scheme+" "+tt.host, func(t *testing.T) {
			var err error
			if tt.scheme == "" {
				_, err = set.ResolveURL(tt.host)
			} else {
				_, err = set.Resolve(tt.scheme, tt.host)
			}
			if err == nil || err.Error() != tt.want {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestSetPortPrecedence: "h" and "h:443" both match https://h; the first
// listed wins, and each still matches what only it matches.
func TestSetPortPrecedence(t *testing.T) {
	tests := []struct {
		name   string
		routes []Route
		want   map[string]string // URL to profile
	}{
		{
			name:   "no port first",
			routes: []Route{{Host: "localhost", Profile: "a"}, {Host: "localhost", Port: "443", Profile: "b"}},
			want:   map[string]string{"https://localhost": "a", "https://localhost:443": "a", "http://localhost": "a", "http://localhost:443": "b"},
		},
		{
			name:   "port first",
			routes: []Route{{Host: "localhost", Port: "443", Profile: "b"}, {Host: "localhost", Profile: "a"}},
			want:   map[string]string{"https://localhost": "b", "https://localhost:443": "b", "http://localhost": "a", "http://localhost:443": "b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := NewSet(tt.routes)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for u := range tt.want {
				if profile, err := set.ResolveURL(u); err == nil {
					got[u] = profile
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("profiles (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNilSetResolvesNothing(t *testing.T) {
	var set *Set
	if profile, err := set.Resolve("https", "api.d21s.com"); err == nil {
		t.Errorf("nil set resolved to profile %q", profile)
	}
}

func TestSetProfiles(t *testing.T) {
	staging, err := ParseList("staging.example.com, shared.example.com, API.D21S.com", "staging")
	if err != nil {
		t.Fatal(err)
	}
	other := []Route{{Host: "shared.example.com", Profile: "other"}, {Host: "[::1]", Port: "8080", Profile: "other"}}
	set, err := NewSet(append(append(DefaultRoutes(), staging...), other...))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		hostport    string
		wantProfile string
		wantOK      bool
	}{
		{"api.d21s.com", "", true}, // listed first by the defaults
		{"staging.example.com", "staging", true},
		{"shared.example.com", "staging", true}, // first listed wins
		{"[::1]:8080", "other", true},
		{"unknown.example.com", "", false},
	}
	for _, tt := range tests {
		profile, err := set.Resolve("https", tt.hostport)
		if diff := cmp.Diff([]any{tt.wantProfile, tt.wantOK}, []any{profile, err == nil}); diff != "" {
			t.Errorf("Resolve(%q) (-want +got):\n%s", tt.hostport, diff)
		}
	}

	wantRoutes := []Route{
		{Host: "api.disruptive-technologies.com"},
		{Host: "api.d21s.com"},
		{Host: "emulator.disruptive-technologies.com"},
		{Host: "staging.example.com", Profile: "staging"},
		{Host: "shared.example.com", Profile: "staging"},
		{Host: "::1", Port: "8080", Profile: "other"},
	}
	if diff := cmp.Diff(wantRoutes, set.Routes()); diff != "" {
		t.Errorf("Routes() (-want +got):\n%s", diff)
	}
}

func TestNewSetRejectsBadRoute(t *testing.T) {
	_, err := NewSet([]Route{{Host: "bad host", Profile: "p"}})
	if err == nil || !strings.Contains(err.Error(), `"bad host"`) {
		t.Fatalf("NewSet error = %v, want one naming the host", err)
	}
}

func TestDefaultRejectsBadExtra(t *testing.T) {
	if _, err := Default("ok.example,https://x"); err == nil {
		t.Fatal("Default accepted a URL as a host entry")
	}
}

// urlIsDTOverHTTPS is an independent oracle: net/url, in its most lenient
// reading, sees an https URL (explicitly or by having no scheme) to a DT
// host (lower-cased, without a trailing dot) on port 443 in s.
func urlIsDTOverHTTPS(s string) bool {
	s = strings.TrimSpace(s)
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
	return isDTOverHTTPS("https", u.Hostname(), u.Port())
}

// isDTOverHTTPS is the oracle's core: the DT hosts are not loopback hosts,
// so they get tokens over https only, and only on its default port.
func isDTOverHTTPS(scheme, host, port string) bool {
	if scheme != "https" {
		return false
	}
	if n, err := strconv.Atoi(port); port != "" && (err != nil || n != 443) {
		return false
	}
	return slices.Contains(DefaultHosts(), strings.TrimSuffix(strings.ToLower(host), "."))
}

func FuzzParseServerURL(f *testing.F) {
	for _, s := range []string{
		"api.d21s.com", "https://api.d21s.com/v2", "https://api.d21s.com.evil.example",
		"https://evil.example/api.d21s.com", "https://api.d21s.com@evil.example",
		"https://API.D21S.COM.:443", "http://[::1]:8080", "//x", "https://a%2eb",
		"https://api.d21s.com%2e", "https://api.d21s.com\\@evil", "ftp://api.d21s.com",
		"https://api.d21s.com:80", "http://api.d21s.com:443", "http://api.d21s.com:080", "api.d21s.com:80",
	} {
		f.Add(s)
	}
	set, err := Default("")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		scheme, host, port, err := ParseServerURL(s)
		_, why := set.ResolveURL(s)
		ok := why == nil
		if err != nil {
			if ok {
				t.Fatalf("ResolveURL(%q) matched a URL ParseServerURL rejects", s)
			}
			return
		}
		if ok && !urlIsDTOverHTTPS(s) {
			t.Fatalf("ResolveURL(%q) matched, but net/url sees %s://%s port %q", s, scheme, host, port)
		}
		if port != "" && port == DefaultPort(scheme) {
			t.Fatalf("ParseServerURL(%q) kept the default port %q of %s", s, port, scheme)
		}
		// The canonical form is a fixed point.
		canon := scheme + "://" + Route{Host: host, Port: port}.String()
		scheme2, host2, port2, err := ParseServerURL(canon)
		if err != nil {
			t.Fatalf("ParseServerURL(%q) (canonical form of %q): %v", canon, s, err)
		}
		if scheme2 != scheme || host2 != host || port2 != port {
			t.Fatalf("ParseServerURL(%q) = %q, %q, %q; want %q, %q, %q", canon, scheme2, host2, port2, scheme, host, port)
		}
		if _, why2 := set.ResolveURL(canon); (why2 == nil) != ok {
			t.Fatalf("ResolveURL(%q): %v, but ResolveURL(%q): %v", s, why, canon, why2)
		}
	})
}

func FuzzResolve(f *testing.F) {
	for _, s := range []string{
		"api.d21s.com", "API.D21S.com.", "api.d21s.com:443", "api.d21s.com:80", "api.d21s.com.evil.example",
		"[::1]:8080", "::1", "api.d21s.com@evil.example", "evil.example/api.d21s.com",
	} {
		f.Add("https", s)
		f.Add("http", s)
	}
	f.Add("ssh", "api.d21s.com")
	set, err := Default("")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, scheme, hostport string) {
		if _, err := set.Resolve(scheme, hostport); err != nil {
			return
		}
		host, port, _ := strings.Cut(hostport, ":")
		if !isDTOverHTTPS(scheme, host, port) {
			t.Fatalf("Resolve(%q, %q) matched, but that is not a DT host over https on port 443", scheme, hostport)
		}
	})
}

// The DT hosts, pinned here as DESIGN.md lists them: the other tests take
// them from DefaultHosts.
func TestDefaultHostsAreDTs(t *testing.T) {
	want := []string{"api.disruptive-technologies.com", "api.d21s.com", "emulator.disruptive-technologies.com"}
	if diff := cmp.Diff(want, DefaultHosts()); diff != "" {
		t.Errorf("DefaultHosts (-want +got):\n%s", diff)
	}
}

// TestDefaultProfileHostsWin: a host a profile lists explicitly is served by
// that profile, even a DT host or one in DT_CREDENTIAL_HOSTS; the rest stay
// with the default profile (issue 9, item 11).
func TestDefaultProfileHostsWin(t *testing.T) {
	prod, err := ParseList("api.d21s.com, extra.example:8443", "prod")
	if err != nil {
		t.Fatal(err)
	}
	set, err := Default("extra.example:8443, env.example", prod...)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		hostport    string
		wantProfile string
	}{
		{"api.d21s.com", "prod"},
		{"api.d21s.com:443", "prod"},
		{"extra.example:8443", "prod"},
		{"api.disruptive-technologies.com", ""},
		{"env.example", ""},
	}
	for _, tt := range tests {
		profile, err := set.Resolve("https", tt.hostport)
		if diff := cmp.Diff([]any{tt.wantProfile, nil}, []any{profile, err}); diff != "" {
			t.Errorf("Resolve(%q) (-want +got):\n%s", tt.hostport, diff)
		}
	}
}
