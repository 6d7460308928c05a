// Package dockercred speaks the docker credential helper protocol
// (github.com/docker/docker-credential-helpers, credentials.HandleCommand)
// over a reader and a writer: get hands DT access tokens to DT hosts, and
// every other host is "not found".
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
	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/bearer"
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

// Tokens gives a profile's token and forgets one ("" is the default
// profile). The caller implements it over the cached token source.
type Tokens interface {
	// Token returns a valid token of profile.
	Token(ctx context.Context, profile string) (*oauth2.Token, error)
	// Invalidate drops profile's cached token if it equals token; token ""
	// drops it whatever it is.
	Invalidate(ctx context.Context, profile, token string) error
}

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
func Handle(ctx context.Context, action string, in io.Reader, out io.Writer, set *hosts.Set, p Tokens, version string, log *slog.Logger) error {
	var err error
	switch action {
	case credentials.ActionGet:
		err = get(ctx, in, out, set, p, log)
	case credentials.ActionStore:
		err = store(in)
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
func Run(ctx context.Context, action string, in io.Reader, out io.Writer, set *hosts.Set, p Tokens, version string, log *slog.Logger) int {
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

func get(ctx context.Context, in io.Reader, out io.Writer, set *hosts.Set, p Tokens, log *slog.Logger) error {
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

// store accepts and ignores credentials: DT tokens come from our own cache,
// and storing whatever docker login was given would only go stale. The input
// is still validated, as credentials.Store does.
func store(in io.Reader) error {
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
func erase(ctx context.Context, in io.Reader, set *hosts.Set, p Tokens, log *slog.Logger) error {
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
	if why != "" {
		if log != nil {
			log.Info(Name + " " + action + ": no token for " + why)
		}
		return "", "", credentials.NewErrCredentialsNotFound()
	}
	return serverURL, profile, nil
}

// route returns the profile for a server URL, or why it gets no token (never
// quoting the URL, which may hold a password), on the port its scheme implies
// when it names none (https when it has no scheme, as docker means it), so
// https://h:80 is not https://h. Plain http gets a token only for a loopback
// host, as in git: a token sent in clear text over a network is a token
// lost. A URL that is not valid UTF-8 cannot be echoed back unchanged in the
// JSON answer, so it is refused too. Every other server is simply not ours,
// whatever the reason.
func route(serverURL string, set *hosts.Set) (profile, why string) {
	if !utf8.ValidString(serverURL) {
		return "", "a server url that is not valid UTF-8"
	}
	scheme, host, port, err := hosts.ParseServerURL(serverURL)
	if err != nil {
		return "", "an " + err.Error()
	}
	hostport := host
	if strings.Contains(host, ":") {
		hostport = "[" + host + "]"
	}
	if port != "" {
		hostport += ":" + port
	}
	if !bearer.MayCarry(scheme, host) {
		return "", fmt.Sprintf("%s://%s: tokens go only over https, or over plain http to a loopback address", scheme, hostport)
	}
	profile, ok := set.ResolveURL(serverURL)
	if !ok {
		return "", fmt.Sprintf("%s://%s: not an allowed host; %s or 'dt-credential-helper login --hosts' adds one", scheme, hostport, hosts.EnvHosts)
	}
	return profile, ""
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
