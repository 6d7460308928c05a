package main

import (
	"crypto/tls"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/doctor"
)

// TestDoctorProxyAndCA runs the built binary, where net/http reads the
// proxy variables and SSL_CERT_FILE as in real life, against a real
// CONNECT proxy and a TLS emulator whose certificate only a private CA in
// SSL_CERT_FILE vouches for (proxy_test.go's). doctor names the proxy
// without its user or password, counts the CA file's certificates, and
// reaches the endpoint through both; without the CA the clock check fails
// on the certificate; a CA file that holds nothing, a missing one, and a
// proxy setting that is not a URL fail, the last without its password.
func TestDoctorProxyAndCA(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, proxiedHost)
	idp := authtest.NewHandler(authtest.Options{Accounts: []authtest.Account{testAccount}})
	ts := httptest.NewUnstartedServer(idp)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf}}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	t.Cleanup(idp.Close)
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	endpoint := "https://" + net.JoinHostPort(proxiedHost, port) + authtest.TokenPath
	proxy := newConnectProxy(t, map[string]string{proxiedHost: "127.0.0.1"})
	proxyURL := strings.Replace(proxy.URL, "http://", "http://dtuser:pr0xy-pa55@", 1)
	env := withEnv(baseEnv(t, endpoint), "SSL_CERT_FILE="+ca.pemFile, "SSL_CERT_DIR="+t.TempDir(), "HTTPS_PROXY="+proxyURL)
	for _, k := range []string{"https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"} {
		env = withEnv(env, k+"=")
	}
	run := func(t *testing.T, env []string) (doctor.Report, result) {
		t.Helper()
		r := runFor(t, runLimit, env, "", "doctor", "-o", "json", "--timeout", "10s")
		for _, s := range []string{"pr0xy-pa55", "dtuser"} {
			if strings.Contains(r.stdout+r.stderr, s) {
				t.Errorf("doctor shows the proxy's credentials (%q):\n%s%s", s, r.stdout, r.stderr)
			}
		}
		return doctorReport(t, r), r
	}

	before, _ := proxy.seen()
	rep, _ := run(t, env)
	wantCheck(t, rep, "proxy", endpoint, doctor.Pass, "through the proxy "+proxy.URL)
	wantCheck(t, rep, "ca", "", doctor.Pass, "SSL_CERT_FILE="+ca.pemFile+" (1 certificate)")
	wantCheck(t, rep, "clock", endpoint, doctor.Pass, "within")
	wantCheck(t, rep, "token", "(environment)", doctor.Pass)
	if after, _ := proxy.seen(); len(after)-len(before) < 2 {
		t.Errorf("the proxy saw %d CONNECTs, want the clock's and the fetch's", len(after)-len(before))
	}

	t.Run("the system's CAs only", func(t *testing.T) {
		rep, _ := run(t, withEnv(env, "SSL_CERT_FILE=", "SSL_CERT_DIR="))
		wantCheck(t, rep, "ca", "", doctor.Pass, "the system's")
		wantCheck(t, rep, "clock", endpoint, doctor.Fail, "certificate", "CA certificates")
	})
	t.Run("a CA file that holds nothing", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "empty.pem")
		if err := os.WriteFile(empty, []byte("not a certificate\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		rep, _ := run(t, withEnv(env, "SSL_CERT_FILE="+empty))
		wantCheck(t, rep, "ca", "", doctor.Fail, "holds no PEM certificate", "SSL_CERT_FILE")
		rep, _ = run(t, withEnv(env, "SSL_CERT_FILE="+empty+".missing"))
		wantCheck(t, rep, "ca", "", doctor.Fail, "no such file")
	})
	t.Run("a proxy setting that is not a URL", func(t *testing.T) {
		// Go reads a value without a scheme again with http:// in front;
		// this one fails both ways.
		rep, _ := run(t, withEnv(env, "HTTPS_PROXY=dtuser:pr0xy-pa55@bad host:3128"))
		wantCheck(t, rep, "proxy", endpoint, doctor.Fail, "cannot be read", "HTTPS_PROXY")
		wantCheck(t, rep, "clock", endpoint, doctor.Skip)
	})
	t.Run("NO_PROXY", func(t *testing.T) {
		rep, _ := run(t, withEnv(env, "NO_PROXY="+proxiedHost))
		wantCheck(t, rep, "proxy", endpoint, doctor.Pass, "direct: NO_PROXY")
	})
}
