package bearer

import (
	"net/netip"
	"strings"
)

// MayCarry reports whether a bearer credential (an access token, a Vault
// token, a signed assertion: whoever holds one is its owner) may be sent
// over scheme to host: over https to any host, over plain http only to a
// loopback one, since a credential sent in clear text over a network is a
// credential lost (RFC 6750, section 5.3). scheme is lower-case, as
// url.Parse and git give it. The token endpoint, the git and docker
// helpers and every Vault client of this module apply it.
func MayCarry(scheme, host string) bool {
	switch scheme {
	case "https":
		return true
	case "http":
		return isLoopback(host)
	}
	return false
}

// isLoopback reports whether host ("localhost", or an IP address, with or
// without brackets) is this machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return err == nil && ip.IsLoopback()
}
