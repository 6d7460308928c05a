// Command dt-identity-emulator runs a local stand-in for the Disruptive
// Technologies identity service: the OAuth2 token endpoint that exchanges a
// service account's signed JWT for an access token, a minimal /v2/ API
// that checks those tokens, and the service-account key API (create, list
// and delete a key under /v2/projects/P/serviceaccounts/S/keys, for an
// account whose email is S@P.serviceaccount.d21s.com), with which
// `dt-credential-helper rotate` replaces a key. It is for demos, tests and
// offline work.
//
// It prints its token URL as the first and only line on stdout, so scripts
// can start it on port 0 and read where it listens; request logs go to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
)

const name = "dt-identity-emulator"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usageText = `Usage: dt-identity-emulator --account KEYID:EMAIL:SECRET [--account ...] [flags]

Runs a local emulator of the Disruptive Technologies identity service (the
OAuth2 token endpoint, JWT bearer grant) and a minimal /v2/ API that accepts
the tokens it issued, with DT's service-account key API: POST, GET and
DELETE under /v2/projects/PROJECT/serviceaccounts/SA/keys for an account
whose email is SA@PROJECT.serviceaccount.d21s.com (a key created there
exchanges at once; a key deleted there no longer does). Prints the token URL
as the first line of stdout, then logs requests (method, path, status) to
stderr. Stops on SIGINT or SIGTERM.

Account secrets are taken from flags only because this is a local test tool:
argv is visible to every user of the machine. Never use it with real DT
credentials; make up a key id, email and secret for it.

Example:
  dt-identity-emulator --listen 127.0.0.1:0 --account key1:sa@example.com:not-a-real-secret

Flags:
`

// accountsFlag collects --account values. Set never fails, so that the flag
// package cannot echo a bad value (which holds a secret) in its error; the
// problem is reported after parsing instead.
type accountsFlag struct {
	accounts []authtest.Account
	err      error
}

func (f *accountsFlag) String() string { return "" }

func (f *accountsFlag) Set(v string) error {
	a, err := parseAccount(v)
	switch {
	case err != nil:
		f.err = errors.Join(f.err, fmt.Errorf("--account #%d: %w", len(f.accounts)+1, err))
	default:
		for _, prev := range f.accounts {
			if prev.KeyID == a.KeyID {
				f.err = errors.Join(f.err, fmt.Errorf("--account: key id %q given twice", a.KeyID))
			}
		}
	}
	f.accounts = append(f.accounts, a)
	return nil
}

// parseAccount splits KEYID:EMAIL:SECRET on the first two colons, so the
// secret may itself contain colons. Errors never include the secret.
func parseAccount(v string) (authtest.Account, error) {
	parts := strings.SplitN(v, ":", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return authtest.Account{}, errors.New("want KEYID:EMAIL:SECRET with all three non-empty")
	}
	return authtest.Account{KeyID: parts[0], Email: parts[1], Secret: parts[2]}, nil
}

// run is the whole program; it returns the exit code: 0 after a clean
// shutdown or --help, 1 when it cannot serve, 2 on a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, code, ok := parseArgs(args, stdout, stderr)
	if !ok {
		return code
	}
	return serve(ctx, cfg, stdout, stderr)
}

// config is what the command line asks for.
type config struct {
	listen, tokenURL string
	ttl, skew        time.Duration
	accounts         []authtest.Account
}

// parseArgs parses the command line; when it reports false the program
// ends with code (0 after --help, 2 for a bad command line, said on
// stderr).
func parseArgs(args []string, stdout, stderr io.Writer) (config, int, bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // printed by hand: to stdout for --help, not at all on errors
	var c config
	var accounts accountsFlag
	fs.StringVar(&c.listen, "listen", "127.0.0.1:0", "`address` to listen on; port 0 picks a free port")
	fs.StringVar(&c.tokenURL, "token-url", "", "public token `URL` that assertions' aud must equal (default: http://ADDRESS/oauth2/token of the bound address)")
	fs.DurationVar(&c.ttl, "token-ttl", authtest.DefaultTokenTTL, "lifetime of issued access tokens")
	fs.DurationVar(&c.skew, "max-skew", authtest.DefaultMaxSkew, "how far in the future an assertion's iat may be")
	fs.Var(&accounts, "account", "service account `KEYID:EMAIL:SECRET` (repeatable; the secret may contain ':'; test values only)")

	usageErr := func(err error) (config, int, bool) {
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", name, err, name)
		return c, 2, false
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usageText)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return c, 0, false
		}
		// The flag package has already printed the error.
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", name)
		return c, 2, false
	}
	switch {
	case fs.NArg() > 0:
		return usageErr(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	case accounts.err != nil:
		return usageErr(accounts.err)
	case len(accounts.accounts) == 0:
		return usageErr(errors.New("at least one --account KEYID:EMAIL:SECRET is required"))
	case c.ttl <= 0:
		return usageErr(errors.New("--token-ttl must be positive"))
	}
	c.accounts = accounts.accounts
	return c, 0, true
}

// serve listens as c says, prints the token URL as the first stdout line,
// and serves until ctx ends.
func serve(ctx context.Context, c config, stdout, stderr io.Writer) int {
	logger := log.New(stderr, name+": ", log.LstdFlags)
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		logger.Printf("cannot listen: %v", err)
		return 1
	}
	defer ln.Close()
	if c.tokenURL == "" {
		c.tokenURL = "http://" + publicHost(ln.Addr()) + authtest.TokenPath
	}
	maxSkew := c.skew
	if maxSkew <= 0 {
		maxSkew = -1 // Options read 0 as "the default"; the flag's 0 means none
	}
	h := authtest.NewHandler(authtest.Options{TokenURL: c.tokenURL, Accounts: c.accounts, TokenTTL: c.ttl, MaxSkew: maxSkew, Logf: logger.Printf})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: logger}
	// The first stdout line is the contract with scripts and tests; os.Stdout
	// is unbuffered, so it is there as soon as this returns.
	if _, err := fmt.Fprintln(stdout, c.tokenURL); err != nil {
		logger.Printf("cannot write the token URL to stdout: %v", err)
		return 1
	}
	keyIDs := make([]string, len(c.accounts))
	for i, a := range c.accounts {
		keyIDs[i] = a.KeyID
	}
	logger.Printf("serving %s for key ids %s; token TTL %s", c.tokenURL, strings.Join(keyIDs, ", "), c.ttl)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		logger.Printf("serve: %v", err)
		return 1
	case <-ctx.Done():
	}
	logger.Printf("shutting down")
	h.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	return 0
}

// publicHost is host:port for URLs to the listener; a wildcard address is
// replaced by loopback, which is where a local tool is reached from.
func publicHost(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}
