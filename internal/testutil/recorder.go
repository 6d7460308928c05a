package testutil

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// OutsideIP is an IPv4 address of this machine that is not loopback: what
// is sent to it may as well cross the network. It skips tb when there is
// none.
func OutsideIP(tb testing.TB) string {
	tb.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		tb.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	tb.Skip("this machine has no address but loopback")
	return ""
}

// Recorder listens on host (port 0) and counts every byte sent to it; it
// never answers. It stands for whoever must not receive a credential. It
// returns its host:port and a count of what it received, which waits a
// moment first for bytes in flight. It is closed when tb ends.
func Recorder(tb testing.TB, host string) (addr string, received func() int64) {
	tb.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		tb.Fatal(err)
	}
	var n atomic.Int64
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				b, _ := io.Copy(io.Discard, c)
				n.Add(b)
			}()
		}
	}()
	tb.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String(), func() int64 { time.Sleep(100 * time.Millisecond); return n.Load() }
}
