package vaultenv

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// procNetTCP are the kernel's tables of this network namespace's TCP
// sockets, IPv4 and IPv6, each with the uid that owns the socket.
var procNetTCP = [...]string{"/proc/net/tcp", "/proc/net/tcp6"}

// lookups is how many times the server side of a new connection is looked
// for: on loopback the kernel lists it as soon as the handshake is done,
// which may be a moment after connect returns.
const lookups = 6

// checkListener refuses conn, a TCP connection to a loopback address,
// unless the socket at its other end belongs to this user or root. It
// looks up the server side of this very connection (its local address the
// one dialled, its remote one ours): an accepted socket, or one still
// waiting to be, carries the uid of the listener it came from, so no other
// listener can be swapped in between the check and the use.
func checkListener(conn net.Conn) error {
	local, lok := conn.LocalAddr().(*net.TCPAddr)
	remote, rok := conn.RemoteAddr().(*net.TCPAddr)
	if !lok || !rok {
		return refused("vault: refusing to talk to %s: not a TCP connection", conn.RemoteAddr())
	}
	where := tcpWhere(remote)
	server := addrPort(remote)
	client := addrPort(local)
	for i := range lookups {
		uid, found, err := serverUID(server, client)
		switch {
		case err != nil:
			return refused("vault: refusing to talk to %s: cannot tell who listens there: %v", where, err)
		case found && trusted(uid):
			return nil
		case found:
			return squatted(where, uid)
		}
		time.Sleep(time.Millisecond << i)
	}
	return refused("vault: refusing to talk to %s: its listener is not in %s, so whose it is cannot be told", where, strings.Join(procNetTCP[:], " or "))
}

// addrPort is a's address and port, an IPv4 address in its 4-byte form.
func addrPort(a *net.TCPAddr) netip.AddrPort {
	ip, _ := netip.AddrFromSlice(a.IP)
	return netip.AddrPortFrom(ip.Unmap(), uint16(a.Port))
}

// serverUID finds the socket whose local address is server and remote
// address client in the kernel's tables, and returns its owner's uid.
func serverUID(server, client netip.AddrPort) (uid int, found bool, err error) {
	for _, table := range procNetTCP {
		uid, found, err := findIn(table, server, client)
		if err != nil && !(os.IsNotExist(err) && table != procNetTCP[0]) {
			// No tcp6 table is a kernel without IPv6: nothing there.
			return 0, false, err
		}
		if found {
			return uid, true, nil
		}
	}
	return 0, false, nil
}

// findIn looks for the socket in one table.
func findIn(table string, server, client netip.AddrPort) (uid int, found bool, err error) {
	f, err := os.Open(table)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	lines.Scan() // the header
	for lines.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid ...
		fields := strings.Fields(lines.Text())
		if len(fields) < 8 {
			continue
		}
		l, lok := parseProcAddr(fields[1])
		r, rok := parseProcAddr(fields[2])
		if !lok || !rok || l != server || r != client {
			continue
		}
		uid, err := strconv.Atoi(fields[7])
		if err != nil {
			return 0, false, fmt.Errorf("%s: bad uid %q", table, fields[7])
		}
		return uid, true, nil
	}
	return 0, false, lines.Err()
}

// parseProcAddr parses an address as /proc/net/tcp{,6} prints it: the
// address's 32-bit words in hex, each in the machine's byte order, a
// colon, the port in hex. An IPv4-mapped IPv6 address comes back in its
// 4-byte form.
func parseProcAddr(s string) (netip.AddrPort, bool) {
	host, port, ok := strings.Cut(s, ":")
	p, err := strconv.ParseUint(port, 16, 16)
	if !ok || err != nil || (len(host) != 8 && len(host) != 32) {
		return netip.AddrPort{}, false
	}
	var b [16]byte
	for i := 0; i < len(host)/8; i++ {
		w, err := strconv.ParseUint(host[8*i:8*i+8], 16, 32)
		if err != nil {
			return netip.AddrPort{}, false
		}
		binary.NativeEndian.PutUint32(b[4*i:], uint32(w))
	}
	ip := netip.AddrFrom16(b).Unmap()
	if len(host) == 8 {
		ip = netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrPortFrom(ip, uint16(p)), true
}
