// Package dockercred speaks the docker credential helper protocol
// (github.com/docker/docker-credential-helpers, credentials.HandleCommand)
// over a reader and a writer: get hands DT access tokens to DT hosts, and
// every other host is "not found"; store is accepted (and ignored) for DT
// hosts only.
//
// The protocol reports errors on stdout, not stderr: the helper prints the
// error message and exits 1, and docker recognises some messages verbatim
// (credentials.IsErrCredentialsNotFoundMessage). Run does exactly that.
package dockercred

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/hosts"
)

const (
	// Name is the helper's name as docker knows it: docker runs
	// "docker-credential-" + the credsStore or credHelpers value.
	Name = "docker-credential-dt"
	// Username is the user name paired with a token, as Google's helper does.
	Username = "oauth2accesstoken"
	// MaxInputBytes bounds what is read from stdin.
	MaxInputBytes = 1 << 20
)

// Error is the error Handle returns for every failure. Its message is exactly
// the wrapped error's message, because docker compares some messages
// verbatim; errors.As and the credentials.IsErr* functions see through it.
// The caller prints it on stdout, see Run and WriteError.
type Error struct {
	Action string // the action that failed
	Err    error
}

// Error returns the message docker expects on stdout.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Handle runs one docker credential helper action, reading its input from in
// and writing its answer to out; nothing is written to out on error. Only hosts
// in set get a token, over plain http only when they are loopback hosts, and
// p is not called at all for other servers.
// version is printed by the version action. Every error is an *Error.
//
// For a server that gets no token, log (if not nil) is told why at Info
// level: the protocol's answer is only "credentials not found", so the
// caller logs when asked to.
func Handle(ctx context.Context, action string, in io.Reader, out io.Writer, set *hosts.Set, p hosts.Tokens, version string, log *slog.Logger) error {
	var err error
	switch action {
	case credentials.ActionGet:
		err = get(ctx, in, out, set, p, log)
	case credentials.ActionStore:
		err = store(in, set, log)
	case credentials.ActionErase:
		err = erase(ctx, in, set, p, log)
	case credentials.ActionList:
		err = list(out, set)
	case credentials.ActionVersion:
		_, err = fmt.Fprintf(out, "%s (%s) %s\n", Name, "github.com/dt-credential-helper/dt-credential-helper", version)
	default:
		err = fmt.Errorf("%s: unknown action: %s", Name, action)
	}
	if err != nil {
		return &Error{Action: action, Err: err}
	}
	return nil
}

// Run is Handle plus the protocol's error convention: it prints the error on
// out and returns the exit status (0 or 1).
func Run(ctx context.Context, action string, in io.Reader, out io.Writer, set *hosts.Set, p hosts.Tokens, version string, log *slog.Logger) int {
	err := Handle(ctx, action, in, out, set, p, version, log)
	if err == nil {
		return 0
	}
	WriteError(out, err)
	return 1
}

// WriteError prints err on w (the helper's stdout) the way docker expects
// it: one line, which docker shows the user. The line is made printable
// (auth.OneLine): the error may quote a server, a certificate's names or a
// proxy's refusal, whose escapes must not reach a terminal.
func WriteError(w io.Writer, err error) {
	_, _ = fmt.Fprintln(w, auth.OneLine(err.Error()))
}

func get(ctx context.Context, in io.Reader, out io.Writer, set *hosts.Set, p hosts.Tokens, log *slog.Logger) error {
	serverURL, profile, err := readRoute(in, set, credentials.ActionGet, log)
	if err != nil {
		return err
	}
	tok, err := p.Token(ctx, profile)
	if err != nil {
		return err
	}
	if tok == nil || tok.AccessToken == "" {
		return errors.New("token provider returned an empty token")
	}
	var b bytes.Buffer
	// Encoded like credentials.Get does, and in full before anything is
	// written.
	if err := json.NewEncoder(&b).Encode(credentials.Credentials{
		ServerURL: serverURL,
		Username:  Username,
		Secret:    tok.AccessToken,
	}); err != nil {
		return fmt.Errorf("encode credentials: %w", err)
	}
	if _, err := out.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return nil
}

// ErrStoreNotServed is store's answer for a server the helper hands no
// token to. Accepting such a store and keeping nothing would lose a docker
// login silently (credsStore "dt" makes every registry's login a store);
// failing makes docker report it, with this message, which says what to do.
var ErrStoreNotServed = errors.New(Name + " keeps no logins: it serves DT tokens to DT hosts only, and this server is not one; use credHelpers for DT hosts, not credsStore")

// store accepts and ignores credentials for a server the helper serves: DT
// tokens come from our own cache, and storing whatever docker login was
// given would only go stale. For any other server it fails with
// ErrStoreNotServed, and log hears why. The input is validated first, as
// credentials.Store does; no error quotes it (it holds a password).
func store(in io.Reader, set *hosts.Set, log *slog.Logger) error {
	b, err := readAll(in)
	if err != nil {
		return err
	}
	var c credentials.Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return jsonError(err)
	}
	if c.ServerURL == "" {
		return credentials.NewErrCredentialsMissingServerURL()
	}
	if c.Username == "" {
		return credentials.NewErrCredentialsMissingUsername()
	}
	if _, why := route(c.ServerURL, set); why != nil {
		if log != nil {
			log.Info(Name + " " + credentials.ActionStore + ": not kept: " + why.Error())
		}
		return ErrStoreNotServed
	}
	return nil
}

// jsonError describes a JSON error without quoting the input, which holds a
// secret: encoding/json's syntax errors quote the offending character.
func jsonError(err error) error {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return fmt.Errorf("invalid credentials JSON at byte offset %d", syntax.Offset)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return errors.New("invalid credentials JSON: want an object with string fields ServerURL, Username and Secret")
	}
	return errors.New("invalid credentials JSON")
}

// erase drops the cached token of the host's profile, which makes the next
// get fetch a new one; for servers get would not hand a token to it reports
// "not found" like any helper asked to erase what it does not have.
func erase(ctx context.Context, in io.Reader, set *hosts.Set, p hosts.Tokens, log *slog.Logger) error {
	_, profile, err := readRoute(in, set, credentials.ActionErase, log)
	if err != nil {
		return err
	}
	return p.Invalidate(ctx, profile, "")
}

// readRoute reads the server URL of a get or erase and routes it: a server
// that gets no token is credentials-not-found, and log hears why.
func readRoute(in io.Reader, set *hosts.Set, action string, log *slog.Logger) (serverURL, profile string, err error) {
	serverURL, err = readServerURL(in)
	if err != nil {
		return "", "", err
	}
	profile, why := route(serverURL, set)
	if why != nil {
		if log != nil {
			log.Info(Name + " " + action + ": no token for " + why.Error())
		}
		return "", "", credentials.NewErrCredentialsNotFound()
	}
	return serverURL, profile, nil
}

// route returns the profile for a server URL, or why it gets no token
// (hosts.Set.ResolveURL, which never quotes the URL: it may hold a
// password). A URL that is not valid UTF-8 cannot be echoed back unchanged
// in the JSON answer, so it is refused too.
func route(serverURL string, set *hosts.Set) (profile string, why error) {
	if !utf8.ValidString(serverURL) {
		return "", errors.New("a server url that is not valid UTF-8")
	}
	return set.ResolveURL(serverURL)
}

// list reports every DT host as an https server URL, the form docker stores
// registries under, paired with Username.
func list(out io.Writer, set *hosts.Set) error {
	m := make(map[string]string)
	for _, r := range set.Routes() {
		m["https://"+r.String()] = Username
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode host list: %w", err)
	}
	if _, err := out.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write host list: %w", err)
	}
	return nil
}

// readServerURL reads the server URL docker writes on stdin for get and
// erase, trimmed of surrounding space.
func readServerURL(in io.Reader) (string, error) {
	b, err := readAll(in)
	if err != nil {
		return "", err
	}
	serverURL := strings.TrimSpace(string(b))
	if serverURL == "" {
		return "", credentials.NewErrCredentialsMissingServerURL()
	}
	return serverURL, nil
}

func readAll(in io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(in, MaxInputBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	if len(b) > MaxInputBytes {
		return nil, fmt.Errorf("input longer than %d bytes", MaxInputBytes)
	}
	return b, nil
}
