package vaultenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

// TestServerUIDFindsThisConnection: the server side of a connection this
// process made is found in the kernel's tables, with this process's uid,
// for IPv4, IPv6 and an IPv4 client of a dual-stack listener.
func TestServerUIDFindsThisConnection(t *testing.T) {
	for _, tc := range []struct{ listen, dial string }{
		{"tcp4", "127.0.0.1"},
		{"tcp6", "::1"},
		{"tcp", "127.0.0.1"}, // [::]:port, IPv4 in its IPv6 form
	} {
		t.Run(tc.listen+" "+tc.dial, func(t *testing.T) {
			addr := ":0"
			if tc.listen != "tcp" {
				addr = net.JoinHostPort(tc.dial, "0")
			}
			l, err := net.Listen(tc.listen, addr)
			if err != nil {
				t.Skipf("cannot listen: %v", err)
			}
			defer l.Close()
			port := l.Addr().(*net.TCPAddr).Port
			conn, err := net.Dial("tcp", net.JoinHostPort(tc.dial, fmt.Sprint(port)))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := checkListener(conn); err != nil {
				t.Fatalf("this process's own listener refused: %v", err)
			}
			uid, found, err := serverUID(addrPort(conn.RemoteAddr().(*net.TCPAddr)), addrPort(conn.LocalAddr().(*net.TCPAddr)))
			if err != nil || !found || uid != os.Geteuid() {
				t.Errorf("serverUID = %d, %v, %v; want %d, found", uid, found, err, os.Geteuid())
			}
		})
	}
}

// TestDialerRefusesSquatter: a plain-http connection to a loopback port
// another user (uid 65534) listens on is closed before a byte is written,
// naming the port and the owner.
func TestDialerRefusesSquatter(t *testing.T) {
	sq := testutil.StartSquatter(t, "tcp", "127.0.0.1")
	u, _ := url.Parse("http://127.0.0.1:" + sq.Port)
	var d net.Dialer
	conn, err := Dialer(u, "", d.DialContext)(context.Background(), "tcp", u.Host)
	var re *RefusedError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "127.0.0.1 port "+sq.Port) || !strings.Contains(err.Error(), fmt.Sprintf("uid %d", testutil.Nobody)) {
		t.Fatalf("dial: %v, %v; want a refusal naming the port and uid %d", conn, err, testutil.Nobody)
	}
	if got := sq.Stop(); len(got) != 0 {
		t.Errorf("the listener received %v", got)
	}
}
