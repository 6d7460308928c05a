package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
	"github.com/dt-credential-helper/dt-credential-helper/plugin"
)

// These tests put terminal escapes where a hostile server chooses the text:
// the DNS names of its certificate, which Go's TLS error quotes, and the
// reason phrase of a proxy's refusal, which Go's transport returns as the
// error. They run the built binaries against a real TLS server and a real
// CONNECT proxy, and check that no control character reaches the terminal
// while the message still says what went wrong. The DT identity service is
// not involved: nothing gets that far.

// The escapes a server slips in: OSC 52 writes the clipboard, OSC 0 sets the
// window title, CSI 1A moves the cursor up (over the line before).
const (
	escClipboard = "\x1b]52;c;cHduZWQ=\x07"
	escTitle     = "\x1b]0;owned\x07"
	escCursorUp  = "\x1b[1A"
)

// controlIn describes the first control character in s other than a
// newline, or "" if there is none: C0 (ESC, BEL, CR, tab...), DEL, C1 (as
// UTF-8, such as U+009B, a one-character CSI), the bidi overrides and
// isolates that reorder what a terminal shows, or bytes that are not UTF-8.
func controlIn(s string) string {
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\ufffd"):
			return fmt.Sprintf("a byte that is not UTF-8 at %d", i)
		case r == '\n':
		case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f,
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return fmt.Sprintf("%U at byte %d in %q", r, i, s)
		}
	}
	return ""
}

// hostileTLS is an HTTPS server on 127.0.0.1 whose certificate, signed by
// a CA in the returned PEM file, is valid only for names holding escapes:
// reached as localhost, Go's error lists them.
func hostileTLS(t *testing.T) (port, caFile string) {
	t.Helper()
	ca := newTestCA(t,
		"dt"+escClipboard+".example",
		"dt"+escTitle+".example",
		"dt"+escCursorUp+".example")
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf}}
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	ts.StartTLS()
	t.Cleanup(ts.Close)
	_, port, _ = net.SplitHostPort(ts.Listener.Addr().String())
	return port, ca.pemFile
}

// proxyRefusal is the reason phrase of the hostile proxy's 403: the three
// escapes, a C1 CSI (U+009B) and a right-to-left override.
const proxyRefusal = escClipboard + escTitle + escCursorUp + " \u009b2J \u202eforbidden by policy"

// hostileProxy is an HTTP proxy on 127.0.0.1 that refuses every CONNECT
// with proxyRefusal; it returns the proxy's URL.
func hostileProxy(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				fmt.Fprintf(c, "HTTP/1.1 403 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", proxyRefusal)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// hostileEnvs are the environments that make the helper meet the hostile
// TLS server or proxy, for a DT account and for a Vault one (read by the
// vault-token child), each with what the message must still say.
func hostileEnvs(t *testing.T) []struct {
	name string
	env  []string
	want []string
} {
	t.Helper()
	port, caFile := hostileTLS(t)
	proxyURL := hostileProxy(t)
	base := withEnv(baseEnv(t, "https://localhost:"+port+"/oauth2/token"),
		"SSL_CERT_FILE="+caFile, "SSL_CERT_DIR="+t.TempDir())
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"} {
		base = withEnv(base, k+"=")
	}
	vault := withEnv(withoutEnv(base, "DT_SERVICE_ACCOUNT_KEY_ID", "DT_SERVICE_ACCOUNT_EMAIL", "DT_SERVICE_ACCOUNT_SECRET", "DT_TOKEN_ENDPOINT"),
		"DT_VAULT_PATH=dt/token/prod", "VAULT_TOKEN=hvs.escapes-test", "VAULT_CACERT="+caFile, "VAULT_MAX_RETRIES=0")
	certWant := []string{"certificate is valid for", "52;c;cHduZWQ=", "not localhost"}
	proxyWant := []string{"forbidden by policy"}
	return []struct {
		name string
		env  []string
		want []string
	}{
		{"DT, certificate", base, certWant},
		{"DT, proxy", withEnv(base, "DT_TOKEN_ENDPOINT=https://"+proxiedHost+"/oauth2/token", "HTTPS_PROXY="+proxyURL), proxyWant},
		{"Vault, certificate", withEnv(vault, "VAULT_ADDR=https://localhost:"+port), certWant},
		{"Vault, proxy", withEnv(vault, "VAULT_ADDR=https://vault.dt-proxy.test:8200", "HTTPS_PROXY="+proxyURL), proxyWant},
	}
}

// TestServerEscapesNeverReachTheTerminal: token (as kubectl runs it), git
// get, docker get and exec, with and without --verbose, print the hostile
// server's text with its control characters replaced.
func TestServerEscapesNeverReachTheTerminal(t *testing.T) {
	t.Parallel()
	const kubeInfo = `KUBERNETES_EXEC_INFO={"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}`
	roles := []struct {
		name  string
		args  []string
		stdin string
		env   []string
	}{
		{name: "token", args: []string{"token", "--cache", "none", "--timeout", "5s"}},
		{name: "kubectl", args: []string{"token", "--cache", "none", "--timeout", "5s"}, env: []string{kubeInfo}},
		{name: "git get", args: []string{"git", "--cache", "none", "--timeout", "5s", "get"}, stdin: "protocol=https\nhost=api.disruptive-technologies.com\n\n"},
		{name: "docker get", args: []string{"docker", "--cache", "none", "--timeout", "5s", "get"}, stdin: "https://api.disruptive-technologies.com\n"},
		// A command found on every platform; the token fails before it runs.
		{name: "exec", args: []string{"exec", "--cache", "none", "--timeout", "5s", "--", binary, "version"}},
	}
	for _, h := range hostileEnvs(t) {
		for _, role := range roles {
			for _, verbose := range []bool{false, true} {
				args := role.args
				name := h.name + ", " + role.name
				if verbose {
					args = append([]string{args[0], "--verbose"}, args[1:]...)
					name += ", --verbose"
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					r := runBinary(t, withEnv(h.env, role.env...), role.stdin, args...)
					if r.code == 0 {
						t.Fatalf("exit 0 against a hostile server; stderr %q", r.stderr)
					}
					for stream, out := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
						if c := controlIn(out); c != "" {
							t.Errorf("%s holds %s", stream, c)
						}
					}
					for _, w := range h.want {
						if !strings.Contains(r.stdout+r.stderr, w) {
							t.Errorf("the output does not say %q:\nstdout %q\nstderr %q", w, r.stdout, r.stderr)
						}
					}
				})
			}
		}
	}
}

// TestPluginHostGetsNoServerEscapes: a go-plugin host asking for a token
// against the hostile server gets an error whose message, and whatever the
// plugin process logged to the host's logger, holds no control character.
func TestPluginHostGetsNoServerEscapes(t *testing.T) {
	t.Parallel()
	for _, h := range hostileEnvs(t) {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			var log testutil.Buffer
			logger := hclog.New(&hclog.LoggerOptions{Output: &log, Level: hclog.Trace})
			p, stop, err := plugin.Launch(plugin.LaunchConfig{
				Path: binary, Args: []string{"plugin", "--verbose", "--cache", "none", "--timeout", "5s"},
				Env: h.env, Logger: logger, StartTimeout: 20 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			_, err = p.GetToken(ctx, "", false)
			stop()
			if err == nil {
				t.Fatal("GetToken succeeded against a hostile server")
			}
			if c := controlIn(err.Error()); c != "" {
				t.Errorf("GetToken's error holds %s", c)
			}
			for _, w := range h.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("GetToken's error does not say %q: %q", w, err)
				}
			}
			if c := controlIn(log.String()); c != "" {
				t.Errorf("the host's log holds %s", c)
			}
		})
	}
}

// TestWarningCarriesNoServerEscapes: a token still cached is served through
// a failed refresh with a warning quoting the failure, here the hostile
// proxy's refusal: the warning line holds no control character.
func TestWarningCarriesNoServerEscapes(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, proxiedHost)
	idp := authtest.NewHandler(authtest.Options{Accounts: []authtest.Account{testAccount}})
	ts := httptest.NewUnstartedServer(idp)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf}}
	ts.StartTLS()
	defer ts.Close()
	defer idp.Close()
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	good := newConnectProxy(t, map[string]string{proxiedHost: "127.0.0.1"})
	env := withEnv(baseEnv(t, "https://"+net.JoinHostPort(proxiedHost, port)+authtest.TokenPath),
		"SSL_CERT_FILE="+ca.pemFile, "SSL_CERT_DIR="+t.TempDir())
	for _, k := range []string{"https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"} {
		env = withEnv(env, k+"=")
	}

	r := runBinary(t, withEnv(env, "HTTPS_PROXY="+good.URL), "", "token", "-o", "token")
	cached := strings.TrimSpace(r.stdout)
	if r.code != 0 || !idp.Valid(cached) {
		t.Fatalf("through the good proxy: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runBinary(t, withEnv(env, "HTTPS_PROXY="+hostileProxy(t)), "", "token", "-o", "token", "--force-refresh", "--timeout", "3s")
	if r.code != 0 || strings.TrimSpace(r.stdout) != cached {
		t.Fatalf("through the hostile proxy: exit %d, the cached token %v; stderr %q", r.code, strings.TrimSpace(r.stdout) == cached, r.stderr)
	}
	if c := controlIn(r.stderr); c != "" {
		t.Errorf("stderr holds %s", c)
	}
	if !strings.HasPrefix(r.stderr, prog+": warning:") || !strings.Contains(r.stderr, "forbidden by policy") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr %q, want one warning line quoting the proxy's refusal", r.stderr)
	}
}

// TestLoggersWriteNoControls: the helper's loggers, the warnings-only one
// and --verbose's, turn a message or value holding escapes into printable
// text, one line per record.
func TestLoggersWriteNoControls(t *testing.T) {
	hostile := escClipboard + escTitle + escCursorUp + "\u009b2J\u202e\nsecond line"
	for _, verbose := range []bool{false, true} {
		t.Run(fmt.Sprintf("verbose %v", verbose), func(t *testing.T) {
			var b strings.Builder
			log := newLogger(&b, verbose).With("server", hostile)
			log.Warn("refresh failed: "+hostile, "error", errors.New(hostile), "text", hostile)
			if c := controlIn(b.String()); c != "" {
				t.Errorf("the log holds %s", c)
			}
			if n := strings.Count(b.String(), "\n"); n != 1 || !strings.Contains(b.String(), "second line") {
				t.Errorf("the log is %d lines, want one that keeps the text: %q", n, b.String())
			}
		})
	}
}
