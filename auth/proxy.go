package auth

import (
	"net"
	"net/http"
)

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
		return "invalid proxy setting"
	case u == nil:
		return "none"
	}
	port := u.Port()
	if port == "" {
		// The ports net/http uses for a proxy URL without one.
		port = map[string]string{"http": "80", "https": "443", "socks5": "1080", "socks5h": "1080"}[u.Scheme]
	}
	if port == "" {
		return u.Scheme + "://" + u.Host
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port)
}
