package auth

import (
	"cmp"
	"net"
	"net/http"
	"net/url"
)

// InvalidProxy is what [ProxyFor] says of a proxy variable that cannot be
// read; the doctor command tells it from a proxy's address by it.
const InvalidProxy = "invalid proxy setting"

// ProxyFor names the proxy a [Source] with the default HTTP client sends a
// request for endpoint through, as the verbose log names it: its
// scheme://host:port, never its user name or password; "none" for a
// direct connection; [InvalidProxy] for a proxy variable that
// cannot be read, whose value is not quoted (it may hold a password). For
// the doctor command, which says what route a token request would take.
func ProxyFor(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "none" // no request is made to an endpoint that does not parse
	}
	return proxyFor(http.DefaultClient, &http.Request{Method: http.MethodPost, URL: u, Header: http.Header{}})
}

// proxyFor names the proxy c sends req through, for the verbose log: its
// scheme://host:port, never its user name or password; "none" for a direct
// connection. The default transport takes it from HTTPS_PROXY, HTTP_PROXY
// and NO_PROXY (or their lower-case forms; http.ProxyFromEnvironment), and
// never proxies a loopback host. A transport other than *http.Transport
// cannot be asked.
func proxyFor(c *http.Client, req *http.Request) string {
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	t, ok := rt.(*http.Transport)
	if !ok {
		return "unknown (custom transport)"
	}
	if t.Proxy == nil {
		return "none"
	}
	u, err := t.Proxy(req)
	switch {
	case err != nil:
		// The error quotes the proxy setting, password and all.
		return InvalidProxy
	case u == nil:
		return "none"
	}
	// The schemes net/http proxies through, with the port it uses for
	// each when the URL names none. Any other "scheme" is no proxy it
	// can use, and may be a user name: Go reads a proxy variable without
	// its scheme, "user:password@host:port", as a URL of scheme "user".
	defaultPort, ok := map[string]string{"http": "80", "https": "443", "socks5": "1080", "socks5h": "1080"}[u.Scheme]
	if !ok || u.Host == "" {
		return InvalidProxy
	}
	port := cmp.Or(u.Port(), defaultPort)
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port)
}
