package vaultenv

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
)

// DialFunc is the dial function of an http.Transport.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Dialer wraps dial, the dial function of the transport of a Vault client
// whose requests go to u, so that a connection is refused, closed before a
// byte is written, unless it reaches whom the rules trust:
//
//   - socket set (a unix:// agent address): every connection goes to that
//     socket, whatever the request names, as Vault's client does; the
//     socket and its directory must be this user's or root's and the
//     directory not writable by others, and the listener at the other end
//     must run as this user or root (where the system says, Linux and
//     macOS);
//   - u plain http: every connection (to Vault, or to a proxy on this
//     machine) carries the Vault token in clear, so it must reach a
//     loopback address, and on Linux the listening socket must belong to
//     this user or root: with the user's agent down, another user could
//     be listening on its port;
//   - u https: TLS decides whom the client talks to; dial is used as it is.
//
// Its refusals are *RefusedError, which the transport hands back wrapped.
func Dialer(u *url.URL, socket string, dial DialFunc) DialFunc {
	switch {
	case socket != "":
		return func(ctx context.Context, _, _ string) (net.Conn, error) {
			if err := checkSocket(socket); err != nil {
				return nil, err
			}
			var d net.Dialer
			conn, err := d.DialContext(ctx, "unix", socket)
			if err != nil {
				return nil, err
			}
			return refuseUnlessOurs(conn, checkPeer(conn, socket))
		}
	case u.Scheme == "http":
		return func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// Checked on the address connected to, not the name asked
			// for: a name may resolve anywhere.
			ta, ok := conn.RemoteAddr().(*net.TCPAddr)
			if !ok || !ta.IP.IsLoopback() {
				conn.Close()
				return nil, refused("vault: refusing to send the Vault token in clear text to %s (%s): plain http is allowed only to a loopback address", addr, conn.RemoteAddr())
			}
			return refuseUnlessOurs(conn, checkListener(conn))
		}
	}
	return dial
}

// refuseUnlessOurs closes conn when err says its other end is not to be
// trusted.
func refuseUnlessOurs(conn net.Conn, err error) (net.Conn, error) {
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// trusted reports whether uid is this user's (effective) or root's: the
// owners a listener or a socket may have.
func trusted(uid int) bool { return uid == os.Geteuid() || uid == 0 }

// squatted is the refusal of a listener owned by uid.
func squatted(where string, uid int) error {
	return refused("vault: refusing to talk to %s: its listener belongs to uid %d, not to this user (uid %d) or root: another user may be listening where the Vault agent should be",
		where, uid, os.Geteuid())
}

// tcpWhere names the far end of a TCP connection for messages.
func tcpWhere(ta *net.TCPAddr) string {
	return fmt.Sprintf("%s port %d", ta.IP, ta.Port)
}
