package auth

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestProxyFor: the proxy is named by scheme, host and port, never with its
// credentials, whatever the proxy function returns.
func TestProxyFor(t *testing.T) {
	req, err := http.NewRequest(http.MethodPost, "https://identity.example/oauth2/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	fixed := func(raw string) func(*http.Request) (*url.URL, error) {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return http.ProxyURL(u)
	}
	tests := []struct {
		name string
		rt   http.RoundTripper
		want string
	}{
		{"no proxy function", &http.Transport{}, "none"},
		{"proxy function says direct", &http.Transport{Proxy: func(*http.Request) (*url.URL, error) { return nil, nil }}, "none"},
		{"credentials dropped", &http.Transport{Proxy: fixed("http://alice:pa55word@proxy.example:3128")}, "http://proxy.example:3128"},
		{"http default port", &http.Transport{Proxy: fixed("http://proxy.example")}, "http://proxy.example:80"},
		{"https default port", &http.Transport{Proxy: fixed("https://alice:pa55word@proxy.example")}, "https://proxy.example:443"},
		{"socks5 default port", &http.Transport{Proxy: fixed("socks5://proxy.example")}, "socks5://proxy.example:1080"},
		{"ipv6", &http.Transport{Proxy: fixed("http://[::1]:8080")}, "http://[::1]:8080"},
		{"invalid setting", &http.Transport{Proxy: func(*http.Request) (*url.URL, error) {
			return nil, errors.New(`invalid proxy address "http://alice:pa55word@%zz"`)
		}}, "invalid proxy setting"},
		// Go reads "alice:pa55word@proxy.example:3128", a proxy variable
		// without its scheme, as a URL of scheme "alice": no proxy it
		// can use, and its "scheme" is the user name.
		{"a user name read as the scheme", &http.Transport{Proxy: fixed("alice:pa55word@proxy.example:3128")}, "invalid proxy setting"},
		{"custom transport", roundTripperFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("unused") }), "unknown (custom transport)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := proxyFor(&http.Client{Transport: tt.rt}, req)
			if got != tt.want {
				t.Errorf("proxyFor = %q, want %q", got, tt.want)
			}
			if strings.Contains(got, "pa55word") || strings.Contains(got, "alice") {
				t.Errorf("proxyFor shows credentials: %q", got)
			}
		})
	}
}
