package auth

import (
	"net/netip"
	"strings"
)

// isLoopback reports whether host ("localhost", or an IP address, with or
// without brackets) is this machine: the only place a credential may go
// over plain http.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return err == nil && ip.IsLoopback()
}

// MayCarry reports whether a credential may be sent over scheme to host:
// over https to any host, over plain http only to a loopback one, since a
// credential sent in clear text over a network is a credential lost. The
// token endpoint rule here and the git and docker helpers all apply it.
func MayCarry(scheme, host string) bool {
	switch scheme {
	case "https":
		return true
	case "http":
		return isLoopback(host)
	}
	return false
}
