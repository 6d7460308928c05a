package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

// These tests run the built binary, so HTTPS_PROXY, NO_PROXY and
// SSL_CERT_FILE are read as in real life, against a real CONNECT proxy and
// a TLS emulator whose certificate is signed by a private CA that only
// SSL_CERT_FILE names. The DT identity service cannot run here: the
// emulator (auth/authtest) stands in for it.

// proxiedHost is a name only the test proxy knows (like a name only an
// enterprise proxy's DNS resolves): a direct connection to it would fail.
const proxiedHost = "identity.dt-proxy.test"

// testCA is a private certificate authority and a server certificate it
// signed for some names.
type testCA struct {
	pemFile string // the CA certificate, for SSL_CERT_FILE
	leaf    tls.Certificate
}

func newTestCA(t *testing.T, names ...string) testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "dt-credential-helper test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "private-ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return testCA{pemFile: file, leaf: tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}}
}

// connectProxy is an HTTP proxy that tunnels CONNECT requests, counting
// them. It reaches proxiedHost through routes and any other host only when
// it resolves to a loopback address: tests send traffic nowhere else.
type connectProxy struct {
	*httptest.Server
	routes map[string]string // host -> dial address host

	mu       sync.Mutex
	connects []string // the targets asked for
	auths    []string // the Proxy-Authorization user of each
}

func newConnectProxy(t *testing.T, routes map[string]string) *connectProxy {
	t.Helper()
	p := &connectProxy{routes: routes}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Close)
	return p
}

func (p *connectProxy) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "this proxy only tunnels", http.StatusMethodNotAllowed)
		return
	}
	user := ""
	if v, ok := strings.CutPrefix(r.Header.Get("Proxy-Authorization"), "Basic "); ok {
		if b, err := base64.StdEncoding.DecodeString(v); err == nil {
			user = string(b)
		}
	}
	p.mu.Lock()
	p.connects = append(p.connects, r.Host)
	p.auths = append(p.auths, user)
	p.mu.Unlock()
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		http.Error(w, "bad target", http.StatusBadRequest)
		return
	}
	dialHost, ok := p.routes[host]
	if !ok {
		addrs, err := net.LookupHost(host)
		if err != nil || len(addrs) == 0 {
			http.Error(w, "unknown host", http.StatusBadGateway)
			return
		}
		for _, a := range addrs {
			if ip, err := netip.ParseAddr(a); err != nil || !ip.IsLoopback() {
				http.Error(w, "this proxy reaches loopback hosts only", http.StatusForbidden)
				return
			}
		}
		dialHost = addrs[0]
	}
	upstream, err := net.DialTimeout("tcp", net.JoinHostPort(dialHost, port), 5*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer upstream.Close()
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(upstream, bufio.NewReader(buf))
		upstream.(*net.TCPConn).CloseWrite()
		done <- struct{}{}
	}()
	go func() { io.Copy(conn, upstream); done <- struct{}{} }()
	<-done
	<-done
}

func (p *connectProxy) seen() (connects, auths []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.connects...), append([]string(nil), p.auths...)
}

// directHost is a name for the emulator's loopback address that only the
// binary's own /etc/hosts knows (testutil.WithHosts: a private mount
// namespace; the machine's /etc/hosts is neither read nor changed). Go never
// proxies "localhost" or a loopback IP, whatever the environment says, so
// NO_PROXY can only be seen at work on another name that a direct
// connection reaches.
const directHost = "identity.dt-direct.test"

func TestTokenThroughProxyWithPrivateCA(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, proxiedHost, directHost)
	// No TokenURL: the emulator takes the audience from each request's
	// host, so both names work.
	idp := authtest.NewHandler(authtest.Options{Accounts: []authtest.Account{testAccount}})
	ts := httptest.NewUnstartedServer(idp)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf}}
	ts.StartTLS()
	defer ts.Close()
	defer idp.Close()
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	endpoint := func(host string) string { return "https://" + net.JoinHostPort(host, port) + authtest.TokenPath }

	proxy := newConnectProxy(t, map[string]string{proxiedHost: "127.0.0.1", directHost: "127.0.0.1"})
	proxyURL := strings.Replace(proxy.URL, "http://", "http://dtuser:pr0xy-pa55@", 1)
	base := withEnv(baseEnv(t, endpoint(proxiedHost)),
		"SSL_CERT_FILE="+ca.pemFile,
		"SSL_CERT_DIR="+t.TempDir(), // no other CA: the private one is only in SSL_CERT_FILE
	)
	// Whatever proxy this test process was given must not interfere.
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"} {
		base = withEnv(base, k+"=")
	}
	// token runs the binary; with direct, where directHost resolves to
	// 127.0.0.1.
	token := func(t *testing.T, env []string, direct bool) result {
		t.Helper()
		cmd := exec.Command(binary, "token", "--cache", "none", "--verbose", "--timeout", "10s", "-o", "token")
		cmd.Env = env
		if direct {
			if err := testutil.WithHosts(t, cmd, "127.0.0.1 "+directHost+"\n"); err != nil {
				testutil.SkipOutsideCI(t, err.Error())
			}
		}
		return runCommand(t, cmd, "")
	}

	tests := []struct {
		name     string
		env      []string
		connects int    // CONNECTs the proxy must see
		proxy    string // what --verbose must name
	}{
		{"HTTPS_PROXY", []string{"HTTPS_PROXY=" + proxyURL}, 1, proxy.URL},
		{"https_proxy", []string{"https_proxy=" + proxyURL}, 1, proxy.URL},
		// HTTP_PROXY is for http:// URLs only; the token endpoint is https.
		{"HTTP_PROXY only", []string{"HTTP_PROXY=" + proxyURL, "DT_TOKEN_ENDPOINT=" + endpoint(directHost)}, 0, "none"},
		{"NO_PROXY names the host", []string{"HTTPS_PROXY=" + proxyURL, "NO_PROXY=example.com," + directHost, "DT_TOKEN_ENDPOINT=" + endpoint(directHost)}, 0, "none"},
		{"NO_PROXY names the domain", []string{"HTTPS_PROXY=" + proxyURL, "NO_PROXY=.dt-direct.test", "DT_TOKEN_ENDPOINT=" + endpoint(directHost)}, 0, "none"},
		{"no_proxy, lower case", []string{"https_proxy=" + proxyURL, "no_proxy=" + directHost, "DT_TOKEN_ENDPOINT=" + endpoint(directHost)}, 0, "none"},
		// The control for the three above: without NO_PROXY the same host
		// goes through the proxy.
		{"the NO_PROXY host without NO_PROXY", []string{"HTTPS_PROXY=" + proxyURL, "DT_TOKEN_ENDPOINT=" + endpoint(directHost)}, 1, proxy.URL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			direct := strings.Contains(strings.Join(tt.env, " "), endpoint(directHost))
			before, _ := proxy.seen()
			r := token(t, withEnv(base, tt.env...), direct)
			after, auths := proxy.seen()
			if r.code != 0 || !idp.Valid(strings.TrimSpace(r.stdout)) {
				t.Fatalf("exit %d, valid token %v; stderr:\n%s", r.code, idp.Valid(strings.TrimSpace(r.stdout)), r.stderr)
			}
			if n := len(after) - len(before); n != tt.connects {
				t.Errorf("%d CONNECTs to the proxy (%v), want %d", n, after[len(before):], tt.connects)
			}
			if tt.connects > 0 && auths[len(auths)-1] != "dtuser:pr0xy-pa55" {
				t.Errorf("the proxy got Proxy-Authorization for %q, want the user and password from the proxy URL", auths[len(auths)-1])
			}
			if want := "proxy=" + tt.proxy; !strings.Contains(r.stderr, want) {
				t.Errorf("--verbose does not say %q:\n%s", want, r.stderr)
			}
			if strings.Contains(r.stderr, "pr0xy-pa55") || strings.Contains(r.stderr, "dtuser") {
				t.Errorf("--verbose shows the proxy's credentials:\n%s", r.stderr)
			}
		})
	}

	t.Run("a malformed proxy setting is not quoted", func(t *testing.T) {
		// net/http's error quotes the whole setting, password included.
		env := withEnv(base, "HTTPS_PROXY=http://dtuser:pr0xy-pa55@bad host:3128")
		r := token(t, env, false)
		if r.code != 1 || !strings.Contains(r.stderr, "proxy") {
			t.Errorf("exit %d, stderr:\n%s\nwant exit 1 naming the proxy setting", r.code, r.stderr)
		}
		if strings.Contains(r.stderr, "pr0xy-pa55") {
			t.Errorf("the error shows the proxy's password:\n%s", r.stderr)
		}
	})

	t.Run("the CA only in SSL_CERT_FILE", func(t *testing.T) {
		// Without SSL_CERT_FILE the system's CAs are used: the private CA is
		// not among them, so the endpoint's certificate is refused.
		env := withEnv(base, "HTTPS_PROXY="+proxyURL, "SSL_CERT_FILE=", "SSL_CERT_DIR=")
		r := token(t, env, false)
		if r.code != 1 || !strings.Contains(r.stderr, "certificate") {
			t.Errorf("without SSL_CERT_FILE: exit %d, stderr:\n%s\nwant exit 1 naming the certificate", r.code, r.stderr)
		}
	})
}
