// Package vaultenv holds the rules a Vault client of this module follows
// before it sends a Vault token or a JWT anywhere, so that the program
// that reads Vault (vaulttoken, with Vault's client) and the one that only
// runs it (the helper, without Vault's client) apply the same ones:
//
//   - which token path references are well formed ([CheckReference]);
//   - which address and proxy the standard Vault environment makes the
//     client use ([Address], [Check]): VAULT_AGENT_ADDR over VAULT_ADDR,
//     VAULT_PROXY_ADDR over VAULT_HTTP_PROXY, as Vault's client reads them;
//   - where a credential may go: https, or plain http only to this machine
//     (bearer.MayCarry), directly or through a proxy on this machine, and no
//     user name or password in an address ([CheckAddress], [CheckProxy]);
//   - whom a connection reaches ([Dialer]): a plain-http connection must
//     reach a loopback address whose listener, on Linux, belongs to this
//     user or root; a unix:// agent socket must be this user's or root's,
//     in a directory others cannot write, and so must its listener;
//   - how much of a response is read ([BoundBodies]).
//
// It imports neither Vault's client nor anything of this module but the
// leaf bearer (for MayCarry).
package vaultenv

import (
	"cmp"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// DefaultAddress is Vault's client's address when the environment names
// none (api.DefaultAddress).
const DefaultAddress = "https://127.0.0.1:8200"

// The variables Vault's client reads for where it sends requests.
const (
	EnvAddr      = "VAULT_ADDR"
	EnvAgentAddr = "VAULT_AGENT_ADDR"
	EnvProxyAddr = "VAULT_PROXY_ADDR"
	EnvHTTPProxy = "VAULT_HTTP_PROXY"
)

// unixScheme starts an agent address that is a unix socket, as Vault's
// client spells it: unix:///run/vault-agent.sock.
const unixScheme = "unix://"

// RefusedError is a refusal to send a credential somewhere: an address, a
// proxy or a listener the rules do not trust. Its message says what and
// why; it never holds a credential or an address's password.
type RefusedError struct{ Msg string }

func (e *RefusedError) Error() string { return e.Msg }

func refused(format string, args ...any) error {
	return &RefusedError{Msg: fmt.Sprintf(format, args...)}
}

// addressVar is the variable naming the address Vault's client uses and
// its value: VAULT_AGENT_ADDR over VAULT_ADDR; "" and [DefaultAddress]
// when neither is set.
func addressVar(getenv func(string) string) (name, addr string) {
	if a := getenv(EnvAgentAddr); a != "" {
		return EnvAgentAddr, a
	}
	if a := getenv(EnvAddr); a != "" {
		return EnvAddr, a
	}
	return "", DefaultAddress
}

// Address is the address a Vault client made from the environment getenv
// reads sends its requests to: VAULT_AGENT_ADDR over VAULT_ADDR, else
// [DefaultAddress].
func Address(getenv func(string) string) string {
	_, addr := addressVar(getenv)
	return addr
}

// proxyVar is the variable naming the proxy Vault's client is told to
// use for every request, and its value: VAULT_PROXY_ADDR over
// VAULT_HTTP_PROXY; "", "" for none, when the client uses the standard
// proxy environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), which net/http
// never applies to a loopback host.
func proxyVar(getenv func(string) string) (name, proxy string) {
	if p := getenv(EnvProxyAddr); p != "" {
		return EnvProxyAddr, p
	}
	if p := getenv(EnvHTTPProxy); p != "" {
		return EnvHTTPProxy, p
	}
	return "", ""
}

// Check applies the rules to the address and the proxy the environment
// getenv reads makes a Vault client use, naming the variable at fault.
// The standard proxy environment needs no check here: net/http does not
// send a request for a loopback host through it, and any other host is
// https, whose proxy sees only a tunnel.
func Check(getenv func(string) string) error {
	name, addr := addressVar(getenv)
	u, socket, err := ParseAddress(addr)
	if err != nil {
		return refused("vault: %s %v", cmp.Or(name, "the default address"), err)
	}
	pname, proxy := proxyVar(getenv)
	if proxy == "" || socket != "" {
		// A unix socket is dialled whatever the proxy.
		return nil
	}
	p, err := url.Parse(proxy)
	if err != nil {
		return refused("vault: %s is not a URL such as http://proxy.example:3128", pname)
	}
	if err := CheckProxy(u, p); err != nil {
		return refused("vault: %s %v", pname, err)
	}
	return nil
}

// ParseAddress parses a Vault address and applies the rule a credential
// follows everywhere in this module: https, or plain http only to a
// loopback host, since the Vault token and the JWT go there; no user name
// or password in it, which logs and errors would show. A unix:// address
// (a Vault agent's unix listener) names an absolute socket path, returned
// as socket, with u the URL Vault's client then makes requests to
// (http://localhost). Its errors are *RefusedError, worded to follow the
// variable's name.
func ParseAddress(addr string) (u *url.URL, socket string, err error) {
	if rest, ok := strings.CutPrefix(addr, unixScheme); ok {
		if !filepath.IsAbs(rest) {
			return nil, "", refused("%s does not name an absolute socket path, such as unix:///run/vault-agent.sock", addr)
		}
		return &url.URL{Scheme: "http", Host: "localhost"}, filepath.Clean(rest), nil
	}
	u, err = url.Parse(addr)
	if err != nil || u.Host == "" {
		return nil, "", refused("is not a URL such as https://vault.example.com:8200")
	}
	return u, "", CheckAddress(u)
}

// CheckAddress applies the address rule of [ParseAddress] to a URL that
// requests go to (as a built client reports it).
func CheckAddress(u *url.URL) error {
	switch {
	case u.User != nil:
		return refused("must not hold a user name or password")
	case !bearer.MayCarry(u.Scheme, u.Hostname()):
		return refused("%s is not https: the Vault token would cross the network in clear text (plain http is allowed only to a loopback host)", u.Redacted())
	}
	return nil
}

// CheckProxy applies the rule to proxy (nil for none) in front of the
// Vault address u. Through a proxy, an https request is a tunnel the proxy
// cannot read, so any proxy will do; a plain-http request is handed to the
// proxy whole, Vault token included, so its proxy must be on this machine
// as the address is. A proxy's user name and password are its own
// business, and never shown.
func CheckProxy(u, proxy *url.URL) error {
	if proxy == nil || u.Scheme == "https" {
		return nil
	}
	if host := proxy.Hostname(); !bearer.MayCarry("http", host) {
		return refused("%s is a proxy off this machine in front of the plain-http address %s: the Vault token would leave this machine and travel in clear text (a plain-http Vault address may be reached only directly or through a proxy on this machine)",
			proxy.Redacted(), u.Redacted())
	}
	return nil
}
