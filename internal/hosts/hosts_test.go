package hosts

import (
	"net/url"
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
		{entry: "example.com:443", wantHost: "example.com"},
		{entry: "example.com:80", wantHost: "example.com"},
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
		url      string
		wantHost string
		wantPort string
		wantErr  bool
	}{
		{url: "api.d21s.com", wantHost: "api.d21s.com"},
		{url: "https://api.d21s.com", wantHost: "api.d21s.com"},
		{url: "https://api.d21s.com/", wantHost: "api.d21s.com"},
		{url: "https://api.d21s.com/v2/projects?x=1#f", wantHost: "api.d21s.com"},
		{url: "http://api.d21s.com:80/", wantHost: "api.d21s.com"},
		{url: "HTTPS://API.D21S.com.:443", wantHost: "api.d21s.com"},
		{url: "//api.d21s.com:8443", wantHost: "api.d21s.com", wantPort: "8443"},
		{url: "  localhost:8080 ", wantHost: "localhost", wantPort: "8080"},
		{url: "evil.example/api.d21s.com", wantHost: "evil.example"},
		{url: "api.d21s.com.evil.example", wantHost: "api.d21s.com.evil.example"},
		{url: "https://[::1]:8080/v2", wantHost: "::1", wantPort: "8080"},
		{url: "[::1]", wantHost: "::1"},
		{url: "https://[fe80::1%25eth0]/", wantHost: "fe80::1%eth0"},
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
			host, port, err := ParseServerURL(tt.url)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseServerURL(%q) = %q, %q, %v; want error %v", tt.url, host, port, err, tt.wantErr)
			}
			if err != nil {
				if strings.Contains(tt.url, "secret") && strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q quotes the password", err)
				}
				return
			}
			if diff := cmp.Diff([]string{tt.wantHost, tt.wantPort}, []string{host, port}); diff != "" {
				t.Errorf("ParseServerURL(%q) (-want +got):\n%s", tt.url, diff)
			}
		})
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
		hostport string
		want     bool
	}{
		{"api.d21s.com", true},
		{"API.D21S.com", true},
		{"api.d21s.com.", true},
		{"api.d21s.com:443", true},
		{"api.d21s.com:80", true},
		{"api.disruptive-technologies.com", true},
		{"emulator.disruptive-technologies.com", true},
		{"dt.example.com", true},
		{"localhost:8080", true},
		{"[::1]:9000", true},
		{"[0::1]:9000", true},
		{"api.d21s.com:8443", false},
		{"api.d21s.com.evil.example", false},
		{"evil.example", false},
		{"x.api.d21s.com", false},
		{"d21s.com", false},
		{"evil.example/api.d21s.com", false},
		{"api.d21s.com@evil.example", false},
		{"evil.example@api.d21s.com", false},
		{"api.d21s.com..", false},
		{"api.d21s.com ", false},
		{"localhost", false},
		{"localhost:8081", false},
		{"[::1]", false},
		{"::1:9000", false},
		{"[::2]:9000", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.hostport, func(t *testing.T) {
			_, got := set.Resolve(tt.hostport)
			if got != tt.want {
				t.Errorf("Resolve(%q) ok = %v, want %v", tt.hostport, got, tt.want)
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
		{"https://API.D21S.com/v2/", true},
		{"http://localhost:8080", true},
		{"https://[::1]:9000/", true},
		{"https://api.d21s.com.evil.example", false},
		{"https://evil.example/api.d21s.com", false},
		{"https://api.d21s.com@evil.example", false},
		{"https://evil.example@api.d21s.com", false},
		{"https://evil.example?api.d21s.com", false},
		{"https://evil.example#api.d21s.com", false},
		{"https://api.d21s.com:8443", false},
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

func TestSetMatch(t *testing.T) {
	set := testSet(t)
	tests := []struct {
		host, port string
		want       bool
	}{
		{"api.d21s.com", "", true},
		{"API.d21s.COM.", "443", true},
		{"api.d21s.com", "80", true},
		{"api.d21s.com", "8080", false},
		{"localhost", "8080", true},
		{"localhost", "", false},
		{"::1", "9000", true},
		{"[::1]", "9000", true},
		{"api.d21s.com.evil.example", "", false},
		{"api.d21s.com", "x", false},
	}
	for _, tt := range tests {
		if got := set.Match(tt.host, tt.port); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.host, tt.port, got, tt.want)
		}
	}
	var nilSet *Set
	if nilSet.Match("api.d21s.com", "") {
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
		profile, ok := set.Resolve(tt.hostport)
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

// urlHostIsDefault is an independent oracle: the host net/url sees in s, in the
// most lenient reading, lower-cased.
func urlHostIsDefault(s string) bool {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "://") && !strings.HasPrefix(s, "//") {
		s = "//" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.User != nil {
		return false
	}
	h := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	for _, d := range DefaultHosts() {
		if h == d {
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
	} {
		f.Add(s)
	}
	set, err := Default("")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, port, err := ParseServerURL(s)
		_, ok := set.ResolveURL(s)
		if err != nil {
			if ok {
				t.Fatalf("ResolveURL(%q) matched a URL ParseServerURL rejects", s)
			}
			return
		}
		if ok && !urlHostIsDefault(s) {
			t.Fatalf("ResolveURL(%q) matched, but net/url sees host %q", s, host)
		}
		// The canonical form is a fixed point.
		canon := "https://" + Route{Host: host, Port: port}.String()
		host2, port2, err := ParseServerURL(canon)
		if err != nil {
			t.Fatalf("ParseServerURL(%q) (canonical form of %q): %v", canon, s, err)
		}
		if host2 != host || port2 != port {
			t.Fatalf("ParseServerURL(%q) = %q, %q; want %q, %q", canon, host2, port2, host, port)
		}
		if _, ok2 := set.ResolveURL(canon); ok2 != ok {
			t.Fatalf("ResolveURL(%q) = %v but ResolveURL(%q) = %v", s, ok, canon, ok2)
		}
	})
}

func FuzzResolve(f *testing.F) {
	for _, s := range []string{
		"api.d21s.com", "API.D21S.com.", "api.d21s.com:443", "api.d21s.com.evil.example",
		"[::1]:8080", "::1", "api.d21s.com@evil.example", "evil.example/api.d21s.com",
	} {
		f.Add(s)
	}
	set, err := Default("")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, hostport string) {
		_, ok := set.Resolve(hostport)
		if !ok {
			return
		}
		host, _, _ := strings.Cut(hostport, ":")
		host = strings.TrimSuffix(strings.ToLower(host), ".")
		for _, d := range DefaultHosts() {
			if host == d {
				return
			}
		}
		t.Fatalf("Resolve(%q) matched a host that is not a DT host", hostport)
	})
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LocalHost": true, "127.0.0.1": true, "127.9.9.9": true, "::1": true, "[::1]": true,
		"localhost.evil.example": false, "10.0.0.1": false, "api.d21s.com": false, "": false, "[::2]": false, "0.0.0.0": false,
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

// The DT hosts, pinned here as DESIGN.md lists them: the other tests take
// them from DefaultHosts.
func TestDefaultHostsAreDTs(t *testing.T) {
	want := []string{"api.disruptive-technologies.com", "api.d21s.com", "emulator.disruptive-technologies.com"}
	if diff := cmp.Diff(want, DefaultHosts()); diff != "" {
		t.Errorf("DefaultHosts (-want +got):\n%s", diff)
	}
}
