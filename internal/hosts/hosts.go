// Package hosts decides which hosts are handed DT access tokens by the git and
// docker credential helpers, and which profile's token each one gets.
//
// Matching is exact on the host and on the port a request really goes to.
// Host names are lower-cased (ASCII only; anything else is rejected) with one
// trailing dot removed, and IPv6 literals are in netip's canonical form. A
// request is a scheme (https or http), a host and a port; a request without a
// port, or with its scheme's default port (443 for https, 80 for http), goes
// to the default port. An entry without a port matches only a request to the
// default port of the request's scheme; an entry with a port matches only
// that port, whatever the scheme. So the entry "api.d21s.com" matches
// https://api.d21s.com, https://API.D21S.com. and https://api.d21s.com:443,
// but never https://api.d21s.com:80, https://api.d21s.com:8443 or
// https://x.api.d21s.com; the entry "dev:80" matches http://dev and
// http://dev:80 but not https://dev; and "localhost:8080" matches only port
// 8080. Ports are compared as the numbers they are, so a request does not
// get a token meant for another server that happens to share the host name.
//
// Plain http carries a token only to a loopback host (bearer.MayCarry): a
// token sent in clear text over a network is a token lost. Set.Resolve and
// Set.ResolveURL apply both rules, for the git and the docker protocol, and
// say why a request gets no token.
package hosts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// Tokens gives a profile's token and forgets one ("" is the default
// profile): what the git and docker protocols hand to the hosts a Set
// routes to a profile. The caller implements it over the cached token
// source.
type Tokens interface {
	// Token returns a valid token of profile.
	Token(ctx context.Context, profile string) (*oauth2.Token, error)
	// Invalidate drops profile's cached token if it equals token, so the
	// next Token call fetches a new one; a token that is not the cached one
	// is ignored, and token "" drops it whatever it is.
	Invalidate(ctx context.Context, profile, token string) error
}

// EnvHosts is the environment variable that lists extra hosts, comma
// separated, each "host" or "host:port".
const EnvHosts = "DT_CREDENTIAL_HOSTS"

// Route says that a host (and port) gets the tokens of a profile.
// Port "" means the default port of the request's scheme; Profile "" means
// the default profile.
type Route struct {
	Host    string
	Port    string
	Profile string
}

// String returns the route's host in "host" or "host:port" form.
func (r Route) String() string {
	return joinHostPort(r.Host, r.Port)
}

// HTTPSServer is the route's server as an https client names it: "host",
// or "host:port" for a port other than 443, https's own, which the client
// leaves out (docker's credHelpers keys, a URL's authority).
func (r Route) HTTPSServer() string {
	if r.Port == "443" {
		r.Port = ""
	}
	return r.String()
}

// DefaultHosts returns the DT API hosts that always get tokens.
func DefaultHosts() []string {
	return []string{
		"api.disruptive-technologies.com",
		"api.d21s.com",
		"emulator.disruptive-technologies.com",
	}
}

// DefaultRoutes returns DefaultHosts as routes of the default profile.
func DefaultRoutes() []Route {
	var routes []Route
	for _, h := range DefaultHosts() {
		routes = append(routes, Route{Host: h})
	}
	return routes
}

// Default returns the set the helpers use: profiles (the profiles' own
// hosts) first, then DefaultHosts and the entries of extra (the value of
// DT_CREDENTIAL_HOSTS), routed to the default profile. A host a profile
// lists explicitly is served by that profile, even a DT host: whoever ran
// `login --hosts api.d21s.com` asked for exactly that.
func Default(extra string, profiles ...Route) (*Set, error) {
	routes, err := ParseList(extra, "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvHosts, err)
	}
	return NewSet(slices.Concat(profiles, DefaultRoutes(), routes))
}

// ParseList parses a comma separated list of "host" or "host:port" entries,
// such as the value of DT_CREDENTIAL_HOSTS, into routes to profile.
// Whitespace around entries and empty entries are ignored.
func ParseList(list, profile string) ([]Route, error) {
	return ParseEntries(strings.Split(list, ","), profile)
}

// ParseEntries is ParseList for entries already split, such as a profile's
// list of hosts.
func ParseEntries(entries []string, profile string) ([]Route, error) {
	var routes []Route
	for _, entry := range entries {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		host, port, err := ParseEntry(entry)
		if err != nil {
			return nil, err
		}
		routes = append(routes, Route{Host: host, Port: port, Profile: profile})
	}
	return routes, nil
}

// ParseEntry parses one "host", "host:port", "[ipv6]" or "[ipv6]:port" entry
// into its canonical host (without brackets) and port: "" for none, which is
// the scheme's default port, else the port number without leading zeros.
// An explicit port is kept even when it is 80 or 443, since an entry has no
// scheme to say which of the two is the default. A URL is not an entry; use
// ParseServerURL for those.
func ParseEntry(entry string) (host, port string, err error) {
	host, port, err = splitEntry(strings.TrimSpace(entry))
	if err != nil {
		return "", "", fmt.Errorf("host entry %q: %w", entry, err)
	}
	return host, port, nil
}

func splitEntry(s string) (host, port string, err error) {
	if s == "" {
		return "", "", errors.New("empty host")
	}
	if strings.ContainsAny(s, "/@?#") {
		return "", "", errors.New("want host or host:port, not a URL")
	}
	rawHost, rawPort := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return "", "", errors.New("missing ] after ipv6 address")
		}
		rawHost = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return "", "", errors.New("unexpected text after ]")
			}
			rawPort = p
		}
		if !strings.Contains(rawHost, ":") {
			return "", "", errors.New("only ipv6 addresses go in brackets")
		}
	case strings.Count(s, ":") > 1:
		return "", "", errors.New("ipv6 address must be in brackets, as in [::1]:8080")
	case strings.Contains(s, ":"):
		rawHost, rawPort, _ = strings.Cut(s, ":")
	}
	return canonical(rawHost, rawPort)
}

// DefaultPort returns the default port of scheme ("443" for https, "80" for
// http), or "" for any other scheme, which never gets a token.
func DefaultPort(scheme string) string {
	switch scheme {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// ParseServerURL returns the scheme, canonical host and port of a server URL
// as docker passes it to credential helpers: the scheme is optional (https
// when absent; only https and http are accepted), path, query and fragment
// are ignored, and user information is rejected because it makes the host
// hard to read for a human ("https://api.d21s.com@evil.example" is a URL for
// evil.example). Port is "" when the URL has none or names its scheme's
// default port, so "https://x:443" and "https://x" are the same server, while
// "https://x:80" keeps port "80".
// It follows docker-credential-helpers' registryurl.Parse. Errors never quote
// the URL, which might carry a password.
func ParseServerURL(s string) (scheme, host, port string, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", "", "", errors.New("empty server url")
	}
	if !strings.Contains(s, "://") && !strings.HasPrefix(s, "//") {
		s = "//" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the url.Error repeats the whole URL
		}
		return "", "", "", fmt.Errorf("invalid server url: %w", err)
	}
	scheme = u.Scheme // url.Parse lower-cases it
	switch scheme {
	case "":
		scheme = "https"
	case "https", "http":
	default:
		return "", "", "", errors.New("invalid server url: scheme must be https or http")
	}
	if u.User != nil {
		return "", "", "", errors.New("invalid server url: user information is not allowed")
	}
	if u.Opaque != "" || u.Host == "" {
		return "", "", "", errors.New("invalid server url: no host")
	}
	host, port, err = canonical(u.Hostname(), u.Port())
	if err != nil {
		return "", "", "", fmt.Errorf("invalid server url: %w", err)
	}
	if port == DefaultPort(scheme) {
		port = ""
	}
	return scheme, host, port, nil
}

// canonical validates and normalises a host (without brackets) and a port.
func canonical(host, port string) (string, string, error) {
	h, err := canonicalHost(host)
	if err != nil {
		return "", "", err
	}
	p, err := canonicalPort(port)
	if err != nil {
		return "", "", err
	}
	return h, p, nil
}

func canonicalHost(h string) (string, error) {
	if strings.Contains(h, ":") {
		addr, err := netip.ParseAddr(h)
		if err != nil || !addr.Is6() {
			return "", errors.New("invalid ipv6 address")
		}
		return addr.String(), nil
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return "", errors.New("invalid host name length")
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return "", errors.New("invalid host name: empty or over-long label")
		}
	}
	b := []byte(h)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		case 'A' <= c && c <= 'Z':
			b[i] = c + ('a' - 'A')
		default:
			// Only ASCII: strings.ToLower would fold look-alikes such as
			// the Kelvin sign into ASCII letters.
			return "", errors.New("invalid character in host name")
		}
	}
	return string(b), nil
}

func canonicalPort(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return "", errors.New("invalid port: want a number from 1 to 65535")
	}
	return strconv.FormatUint(n, 10), nil
}

func joinHostPort(host, port string) string {
	if port == "" {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, port)
}

type key struct{ host, port string }

// Set is an immutable set of routes. A nil *Set matches nothing.
type Set struct {
	routes []Route
	index  map[key]int // into routes
}

// NewSet returns a set of routes, validating and canonicalising each. When
// several routes match the same request (the same host and port, or "host"
// and "host:443" for https), the first one listed wins, so callers put the
// routes that should take precedence first.
func NewSet(routes []Route) (*Set, error) {
	s := &Set{index: make(map[key]int)}
	for _, r := range routes {
		host, port, err := canonical(strings.TrimSuffix(strings.TrimPrefix(r.Host, "["), "]"), r.Port)
		if err != nil {
			return nil, fmt.Errorf("host %q of profile %q: %w", r.String(), r.Profile, err)
		}
		k := key{host, port}
		if _, dup := s.index[k]; dup {
			continue
		}
		s.index[k] = len(s.routes)
		s.routes = append(s.routes, Route{Host: host, Port: port, Profile: r.Profile})
	}
	return s, nil
}

// Routes returns the set's canonical routes in precedence order, without
// duplicates.
func (s *Set) Routes() []Route {
	if s == nil {
		return nil
	}
	return append([]Route(nil), s.routes...)
}

// Resolve returns the profile whose token goes to a request over scheme
// (git's protocol attribute) to hostport, which is "host" or "host:port" as
// git sends it in its host attribute, or why the request gets none (see
// route).
func (s *Set) Resolve(scheme, hostport string) (profile string, err error) {
	// Not ParseEntry, which trims: git's host is taken exactly as sent.
	host, port, err := splitEntry(hostport)
	if err != nil {
		return "", fmt.Errorf("an invalid host: host entry %q: %w", hostport, err)
	}
	return s.route(scheme, host, port)
}

// ResolveURL is Resolve for a server URL as docker sends it (see
// ParseServerURL: a URL without a scheme is https). Its errors never quote
// the URL, which may hold a password.
func (s *Set) ResolveURL(serverURL string) (profile string, err error) {
	scheme, host, port, err := ParseServerURL(serverURL)
	if err != nil {
		return "", fmt.Errorf("an %w", err)
	}
	return s.route(scheme, host, port)
}

// route returns the profile whose token goes to a request over scheme to
// the canonical host and port, on the port the scheme implies when port is
// "": https://h:80 is not https://h. Only https gets tokens, and plain http
// only to a loopback host. Otherwise the error says why, in words that
// follow "no token for ": the request in canonical form and the rule it
// breaks, or how to add a host.
func (s *Set) route(scheme, host, port string) (string, error) {
	// The request's words are built only for an error: every git and
	// docker get comes here.
	if !bearer.MayCarry(scheme, host) {
		return "", errors.New(canonicalRequest(scheme, host, port) + ": tokens go only over https, or over plain http to a loopback address")
	}
	profile, ok := s.lookup(scheme, host, port)
	if !ok {
		return "", fmt.Errorf("%s: not an allowed host; %s or 'dt-credential-helper login --hosts' adds one", canonicalRequest(scheme, host, port), EnvHosts)
	}
	return profile, nil
}

// canonicalRequest is a request over scheme to the canonical host and port, in
// canonical form, as route's errors name it.
func canonicalRequest(scheme, host, port string) string {
	return scheme + "://" + joinHostPort(host, port)
}

// lookup returns the profile of the route a request over scheme to the
// canonical host and port matches, if any.
func (s *Set) lookup(scheme, host, port string) (string, bool) {
	def := DefaultPort(scheme)
	if s == nil || def == "" {
		return "", false
	}
	if port == "" {
		port = def
	}
	// An entry with this very port, and for the default port an entry
	// without one: the first listed of the two wins.
	best := -1
	if i, ok := s.index[key{host, port}]; ok {
		best = i
	}
	if port == def {
		if i, ok := s.index[key{host, ""}]; ok && (best < 0 || i < best) {
			best = i
		}
	}
	if best < 0 {
		return "", false
	}
	return s.routes[best].Profile, true
}
