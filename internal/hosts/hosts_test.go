package hosts

import (
	"net/url"
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

func TestSetResolve(t *testing.T) {
	set := testSet(t)
	tests := []struct {
		scheme, hostport string
		want             bool
	}{
		{"https", "api.d21s.com", true},
		{"https", "API.D21S.com", true},
		{"https", "api.d21s.com.", true},
		{"https", "api.d21s.com:443", true},
		{"https", "api.d21s.com:0443", true},
		{"https", "api.d21s.com:80", false},
		{"http", "api.d21s.com", true}, // whether http may carry it is the helper's call
		{"http", "api.d21s.com:80", true},
		{"http", "api.d21s.com:443", false},
		{"https", "api.disruptive-technologies.com", true},
		{"https", "emulator.disruptive-technologies.com", true},
		{"https", "dt.example.com", true},
		{"https", "localhost:8080", true},
		{"http", "localhost:8080", true},
		{"https", "[::1]:9000", true},
		{"https", "[0::1]:9000", true},
		{"ssh", "api.d21s.com", false},
		{"HTTPS", "api.d21s.com", false},
		{"", "api.d21s.com", false},
		{"https", "api.d21s.com:8443", false},
		{"https", "api.d21s.com.evil.example", false},
		{"https", "evil.example", false},
		{"https", "x.api.d21s.com", false},
		{"https", "d21s.com", false},
		{"https", "evil.example/api.d21s.com", false},
		{"https", "api.d21s.com@evil.example", false},
		{"https", "evil.example@api.d21s.com", false},
		{"https", "api.d21s.com..", false},
		{"https", "api.d21s.com ", false},
		{"https", "localhost", false},
		{"http", "localhost", false},
		{"https", "localhost:8081", false},
		{"https", "[::1]", false},
		{"https", "::1:9000", false},
		{"https", "[::2]:9000", false},
		{"https", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.scheme+"://"+tt.hostport, func(t *testing.T) {
			_, got := set.Resolve(tt.scheme, tt.hostport)
			if got != tt.want {
				t.Errorf("Resolve(%q, %q) ok = %v, want %v", tt.scheme, tt.hostport, got, tt.want)
			}
		})
	}
}

func TestSetResolveURL(t *testing.T) {
	set := testSet(t)
	tests := []struct {
		url  string
		want bool
	}{
		{"https://api.d21s.com", true},
		{"api.d21s.com", true},
		{"api.d21s.com:443", true},
		{"https://API.D21S.com/v2/", true},
		{"https://api.d21s.com:443/v2/", true},
		{"http://api.d21s.com", true}, // whether http may carry it is the helper's call
		{"http://api.d21s.com:80", true},
		{"http://localhost:8080", true},
		{"https://[::1]:9000/", true},
		{"https://api.d21s.com:80", false},
		{"api.d21s.com:80", false}, // no scheme is https
		{"http://api.d21s.com:443", false},
		{"https://api.d21s.com.evil.example", false},
		{"https://evil.example/api.d21s.com", false},
		{"https://api.d21s.com@evil.example", false},
		{"https://evil.example@api.d21s.com", false},
		{"https://evil.example?api.d21s.com", false},
		{"https://evil.example#api.d21s.com", false},
		{"https://api.d21s.com:8443", false},
		{"ftp://api.d21s.com", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			if _, got := set.ResolveURL(tt.url); got != tt.want {
				t.Errorf("ResolveURL(%q) ok = %v, want %v", tt.url, got, tt.want)
			}
		})
	}
}

// TestSetPorts: an entry without a port is the request's scheme's default
// port; an entry with a port is that port only, whatever the scheme.
func TestSetPorts(t *testing.T) {
	set, err := Default("dev:80, alt:8443, tls:443")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url  string
		want bool
	}{
		// A DT host, listed without a port.
		{"https://api.d21s.com", true},
		{"https://api.d21s.com:443", true},
		{"https://api.d21s.com:80", false},
		{"http://api.d21s.com", true},
		{"http://api.d21s.com:80", true},
		{"http://api.d21s.com:443", false},
		// dev:80 is http's default port, and port 80 under any scheme.
		{"http://dev", true},
		{"http://dev:80", true},
		{"https://dev:80", true},
		{"https://dev", false},
		{"https://dev:443", false},
		{"dev", false},
		{"dev:80", true},
		// alt:8443 is port 8443 only.
		{"https://alt:8443", true},
		{"http://alt:8443", true},
		{"alt:8443", true},
		{"https://alt", false},
		{"http://alt", false},
		{"https://alt:443", false},
		{"http://alt:80", false},
		// tls:443 is https's default port, and port 443 under any scheme.
		{"https://tls", true},
		{"https://tls:443", true},
		{"http://tls:443", true},
		{"http://tls", false},
		{"http://tls:80", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			if _, got := set.ResolveURL(tt.url); got != tt.want {
				t.Errorf("ResolveURL(%q) ok = %v, want %v", tt.url, got, tt.want)
			}
			// Resolve, as git asks, must agree.
			scheme, hostport, ok := strings.Cut(tt.url, "://")
			if !ok {
				scheme, hostport = "https", tt.url
			}
			if _, got := set.Resolve(scheme, hostport); got != tt.want {
				t.Errorf("Resolve(%q, %q) ok = %v, want %v", scheme, hostport, got, tt.want)
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
			routes: []Route{{Host: "h", Profile: "a"}, {Host: "h", Port: "443", Profile: "b"}},
			want:   map[string]string{"https://h": "a", "https://h:443": "a", "http://h": "a", "http://h:443": "b"},
		},
		{
			name:   "port first",
			routes: []Route{{Host: "h", Port: "443", Profile: "b"}, {Host: "h", Profile: "a"}},
			want:   map[string]string{"https://h": "b", "https://h:443": "b", "http://h": "a", "http://h:443": "b"},
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
				if profile, ok := set.ResolveURL(u); ok {
					got[u] = profile
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("profiles (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetMatch(t *testing.T) {
	set := testSet(t)
	tests := []struct {
		scheme, host, port string
		want               bool
	}{
		{"https", "api.d21s.com", "", true},
		{"https", "API.d21s.COM.", "443", true},
		{"https", "api.d21s.com", "80", false},
		{"http", "api.d21s.com", "80", true},
		{"http", "api.d21s.com", "443", false},
		{"https", "api.d21s.com", "8080", false},
		{"https", "localhost", "8080", true},
		{"https", "localhost", "", false},
		{"https", "::1", "9000", true},
		{"https", "[::1]", "9000", true},
		{"https", "api.d21s.com.evil.example", "", false},
		{"https", "api.d21s.com", "x", false},
		{"ftp", "api.d21s.com", "", false},
	}
	for _, tt := range tests {
		if got := set.Match(tt.scheme, tt.host, tt.port); got != tt.want {
			t.Errorf("Match(%q, %q, %q) = %v, want %v", tt.scheme, tt.host, tt.port, got, tt.want)
		}
	}
	var nilSet *Set
	if nilSet.Match("https", "api.d21s.com", "") {
		t.Error("nil set matched")
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
		profile, ok := set.Resolve("https", tt.hostport)
		if diff := cmp.Diff([]any{tt.wantProfile, tt.wantOK}, []any{profile, ok}); diff != "" {
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

// urlIsDefaultHost is an independent oracle: net/url, in its most lenient
// reading, sees a DT host (lower-cased, without a trailing dot) on its
// scheme's default port in s.
func urlIsDefaultHost(s string) bool {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "://") && !strings.HasPrefix(s, "//") {
		s = "//" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.User != nil {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "" {
		scheme = "https"
	}
	return isDefaultHostPort(scheme, u.Hostname(), u.Port())
}

// isDefaultHostPort is the oracle's core: host is a DT host and port is
// empty or the number of scheme's default port.
func isDefaultHostPort(scheme, host, port string) bool {
	def := map[string]int{"https": 443, "http": 80}[scheme]
	if def == 0 {
		return false
	}
	if n, err := strconv.Atoi(port); port != "" && (err != nil || n != def) {
		return false
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, d := range DefaultHosts() {
		if host == d {
			return true
		}
	}
	return false
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
		_, ok := set.ResolveURL(s)
		if err != nil {
			if ok {
				t.Fatalf("ResolveURL(%q) matched a URL ParseServerURL rejects", s)
			}
			return
		}
		if ok && !urlIsDefaultHost(s) {
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
		if _, ok2 := set.ResolveURL(canon); ok2 != ok {
			t.Fatalf("ResolveURL(%q) = %v but ResolveURL(%q) = %v", s, ok, canon, ok2)
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
		_, ok := set.Resolve(scheme, hostport)
		if !ok {
			return
		}
		host, port, _ := strings.Cut(hostport, ":")
		if !isDefaultHostPort(scheme, host, port) {
			t.Fatalf("Resolve(%q, %q) matched a host that is not a DT host on %s's default port", scheme, hostport, scheme)
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
		profile, ok := set.Resolve("https", tt.hostport)
		if diff := cmp.Diff([]any{tt.wantProfile, true}, []any{profile, ok}); diff != "" {
			t.Errorf("Resolve(%q) (-want +got):\n%s", tt.hostport, diff)
		}
	}
}
