package vaultenv

import (
	"fmt"
	"net"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// checkPeer refuses conn, a connection to the Vault agent socket, unless
// the process listening at its other end runs as this user or root, where
// the system says so (Linux, macOS).
func checkPeer(conn net.Conn, socket string) error {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return refused("vault: refusing to talk to %s: not a unix socket connection", socket)
	}
	uid, err := privatefile.PeerUID(uc)
	switch {
	case err != nil:
		return refused("vault: refusing to talk to the Vault agent socket %s: cannot tell who listens there: %v", socket, err)
	case uid >= 0 && !trusted(uid):
		return squatted(fmt.Sprintf("the Vault agent socket %s", socket), uid)
	}
	return nil
}
