package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/doctor"
)

// The clock check's limits: a difference from the token endpoint's clock
// over clockWarn is worth fixing, one over clockFail is refused (an
// assertion from a clock ahead by more than the identity service allows,
// about a minute at the emulator: docs/clock-skew.md) or gives cached
// tokens the wrong expiry.
const (
	clockWarn = 10 * time.Second
	clockFail = time.Minute
)

// maxCAFile bounds the read of SSL_CERT_FILE.
const maxCAFile = 16 << 20

// fixNetwork is the fix for an endpoint that did not answer.
const fixNetwork = "check the network, the proxy and CA certificates (above) and the endpoint's URL; " +
	"'dt-credential-helper token --verbose' shows each step of a token request"

// proxyVariables are the variables Go's HTTP client reads its proxy from.
func proxyVariables() []string {
	return []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"}
}

// checkNetwork names the route a token request to each endpoint takes:
// the proxy Go's HTTP client picks from the environment (auth.ProxyFor:
// its address without its user or password), and the CA certificates it
// trusts.
func (d *doctorRun) checkNetwork() {
	set := false
	for _, v := range proxyVariables() {
		set = set || d.e.getenv(v) != ""
	}
	for _, ep := range d.endpoints() {
		switch p := auth.ProxyFor(ep); {
		case p == auth.InvalidProxy:
			d.add("proxy", ep, doctor.Fail, "the proxy variable for this URL cannot be read as a URL (its value is not shown: it may hold a password)",
				"correct or unset HTTPS_PROXY (or https_proxy; HTTP_PROXY for an http:// endpoint)")
		case p == "none" && set:
			d.add("proxy", ep, doctor.Pass, "direct: NO_PROXY (or a loopback address, which is never proxied) leaves it out", "")
		case p == "none":
			d.add("proxy", ep, doctor.Pass, "direct: no proxy variable is set", "")
		default:
			d.add("proxy", ep, doctor.Pass, "through the proxy "+p, "")
		}
	}
	d.checkCA()
}

// checkCA checks the CA certificates SSL_CERT_FILE and SSL_CERT_DIR name,
// which Go reads instead of the system's file and directories on Linux and
// the BSDs; a file that holds none leaves every https request untrusted.
func (d *doctorRun) checkCA() {
	file, dirs := d.e.getenv("SSL_CERT_FILE"), d.e.getenv("SSL_CERT_DIR")
	const fix = "point SSL_CERT_FILE at a PEM file of the CA certificates to trust (your proxy's or company's CA, with the public ones), " +
		"and SSL_CERT_DIR at directories of them, or unset them to use the system's"
	if file == "" && dirs == "" {
		d.add("ca", "", doctor.Pass, "the system's CA certificates (SSL_CERT_FILE and SSL_CERT_DIR are not set)", "")
		return
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		d.add("ca", "", doctor.Warn, "SSL_CERT_FILE and SSL_CERT_DIR are not read on "+runtime.GOOS+": the system's trust store decides",
			"add the CA to the system's trust store")
		return
	}
	var found []string
	if file != "" {
		n, err := pemCertificates(file)
		if err != nil || n == 0 {
			why := "holds no PEM certificate"
			if err != nil {
				why = oneLine(err)
			}
			d.add("ca", "", doctor.Fail, "SSL_CERT_FILE="+file+": "+why+": https requests trust nothing from it", fix)
			return
		}
		found = append(found, fmt.Sprintf("SSL_CERT_FILE=%s (%d %s)", file, n, doctor.Plural(n, "certificate")))
	}
	for _, dir := range filepath.SplitList(dirs) {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			d.add("ca", "", doctor.Fail, "SSL_CERT_DIR names "+dir+", which is not a directory", fix)
			return
		}
		found = append(found, "SSL_CERT_DIR "+dir)
	}
	d.add("ca", "", doctor.Pass, "trusted instead of the system's: "+strings.Join(found, ", "), "")
}

// pemCertificates counts the certificates in the PEM file at path. It
// follows a symbolic link, as Go's own read of SSL_CERT_FILE does (a CA
// bundle is often one), but opens without blocking and reads only a
// regular file: a FIFO or a device there would hang doctor, and Go's read
// gets no certificate from one either.
func pemCertificates(path string) (int, error) {
	// O_NONBLOCK: opening a FIFO no one writes to returns at once.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return 0, err
	} else if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%s, not a regular file", fileKind(fi.Mode()))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxCAFile))
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return n, nil
		}
		if _, err := x509.ParseCertificate(b.Bytes); b.Type == "CERTIFICATE" && err == nil {
			n++
		}
	}
}

// fileKind names the type of a file that is not a regular file.
func fileKind(mode fs.FileMode) string {
	switch {
	case mode.IsDir():
		return "a directory"
	case mode&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// checkClock compares this machine's clock with each token endpoint's, by
// the Date header of one request that carries no credential (a GET, which
// the endpoint refuses: only its clock is wanted), sent as a token request
// is, through the same proxy and CAs.
func (d *doctorRun) checkClock(ctx context.Context) {
	for _, ep := range d.endpoints() {
		d.clockOf(ctx, ep)
	}
}

// clockOf compares this machine's clock with endpoint's.
func (d *doctorRun) clockOf(ctx context.Context, endpoint string) {
	if auth.ProxyFor(endpoint) == auth.InvalidProxy {
		// net/http's error would quote the setting, password and all.
		d.add("clock", endpoint, doctor.Skip, "not asked: the proxy setting cannot be read (above)", "")
		return
	}
	ctx, cancel := d.bounded(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		d.add("clock", endpoint, doctor.Fail, oneLine(err), "correct the token endpoint's URL")
		return
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	start := time.Now()
	resp, err := client.Do(req)
	end := time.Now()
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is the subject already
		}
		d.add("clock", endpoint, doctor.Fail, "the token endpoint did not answer: "+oneLine(err), fixNetwork)
		return
	}
	resp.Body.Close()
	server, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		d.add("clock", endpoint, doctor.Warn, fmt.Sprintf("HTTP %d without a usable Date header: the clocks cannot be compared", resp.StatusCode), "")
		return
	}
	// Date is in whole seconds, cut, not rounded: the server's time lay in
	// the second after it, when the request was halfway.
	skew := start.Add(end.Sub(start) / 2).Sub(server.Add(500 * time.Millisecond))
	d.clockVerdict(endpoint, skew)
}

// clockVerdict reports a difference skew of this machine's clock from the
// endpoint's (positive: ahead).
func (d *doctorRun) clockVerdict(endpoint string, skew time.Duration) {
	way := "ahead of"
	if skew < 0 {
		way = "behind"
	}
	off := fmt.Sprintf("this machine's clock is %s %s the token endpoint's (its Date header)", skew.Abs().Round(time.Second), way)
	const fix = "set the clock right and keep it so: turn on time synchronisation (timedatectl set-ntp true, or the system's NTP service); " +
		"docs/clock-skew.md says what a wrong clock does"
	switch abs := skew.Abs(); {
	case abs > clockFail:
		d.add("clock", endpoint, doctor.Fail, off+": the identity service refuses an assertion from a clock that far ahead, and cached tokens expire off time", fix)
	case abs > clockWarn:
		d.add("clock", endpoint, doctor.Warn, off, fix)
	default:
		d.add("clock", endpoint, doctor.Pass, fmt.Sprintf("within %s of the token endpoint's (its Date header)", max(abs.Round(time.Second), time.Second)), "")
	}
}
