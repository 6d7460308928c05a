// Package gitcred speaks the git credential helper protocol
// (gitcredentials(7), git-credential(1)) over a reader and a writer: it hands
// DT access tokens to git for DT hosts and stays silent for every other host.
package gitcred

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/bearer"
	"github.com/dt-credential-helper/dt-credential-helper/internal/hosts"
)

// Username is sent with the token when git did not name a user; servers that
// take a bearer token as a password ignore it, and Google's helpers use the
// same name.
const Username = "oauth2accesstoken"

// Tokens gives a profile's token and forgets one ("" is the default
// profile). The caller implements it over the cached token source.
type Tokens interface {
	// Token returns a valid token of profile.
	Token(ctx context.Context, profile string) (*oauth2.Token, error)
	// Invalidate drops profile's cached token if it equals token, so the
	// next Token call fetches a new one; a token that is not the cached one
	// is ignored.
	Invalidate(ctx context.Context, profile, token string) error
}

// Handle runs one git credential action, reading git's attributes from in and
// writing the answer to out. Only hosts in set get a token, and p is not
// called at all for any other host. Actions other than get, store and
// erase are ignored, as git asks of helpers. On error nothing is written to
// out; the caller reports the error on stderr.
//
// For a host that gets no token, log (if not nil) is told why at Info level:
// git wants silence from the helper, so the caller logs only when asked to.
func Handle(ctx context.Context, action string, in io.Reader, out io.Writer, set *hosts.Set, p Tokens, log *slog.Logger) error {
	switch action {
	case "get", "store", "erase":
	default:
		return nil
	}
	attrs, err := Parse(in)
	if err != nil {
		return fmt.Errorf("git credential %s: %w", action, err)
	}
	profile, why := route(attrs, set)
	if why != "" {
		if log != nil && action != "store" { // store is ignored for every host
			log.Info("git credential " + action + ": no token for " + why)
		}
		return nil
	}
	switch action {
	case "get":
		return get(ctx, attrs, out, profile, p)
	case "erase":
		return erase(ctx, attrs, profile, p)
	}
	return nil // store: the token lives in our own cache, not git's.
}

// route returns the profile for the request's host, or why the host gets no
// token. The host is checked exactly as git sends it ("host" or "host:port"),
// on the port the protocol implies when git names none: https://h:80 is not
// https://h. git only sends a host for protocols that have one. Only https
// gets tokens, and plain http only for a loopback host: a token sent in clear
// text over a network is a token lost.
func route(attrs Attributes, set *hosts.Set) (profile, why string) {
	protocol, hostport := attrs.Get("protocol"), attrs.Get("host")
	host, _, err := hosts.ParseEntry(hostport)
	switch {
	case hostport == "":
		return "", "a request without a host"
	case protocol == "":
		return "", "a request without a protocol"
	case err != nil:
		return "", fmt.Sprintf("an invalid host: %v", err)
	case !bearer.MayCarry(protocol, host):
		return "", fmt.Sprintf("%s://%s: tokens go only over https, or over plain http to a loopback address", protocol, hostport)
	}
	profile, ok := set.Resolve(protocol, hostport)
	if !ok {
		return "", fmt.Sprintf("%s://%s: not an allowed host; %s or 'dt-credential-helper login --hosts' adds one", protocol, hostport, hosts.EnvHosts)
	}
	return profile, ""
}

func get(ctx context.Context, attrs Attributes, out io.Writer, profile string, p Tokens) error {
	tok, err := p.Token(ctx, profile)
	if err != nil {
		return fmt.Errorf("git credential get: %w", err)
	}
	if tok == nil || tok.AccessToken == "" {
		return errors.New("git credential get: token provider returned an empty token")
	}
	var fields []field
	if attrs.Has("capability", "authtype") && takesBearer(attrs.Lists["wwwauth"]) {
		// git 2.46+: hand over the token as a bearer credential, and mark it
		// ephemeral so git does not ask other helpers to store it. Not to a
		// server that asked for Basic alone: it would refuse the Bearer
		// header git then sends, and git would give up.
		fields = []field{
			{"capability[]", "authtype"},
			{"authtype", "Bearer"},
			{"credential", tok.AccessToken},
			{"ephemeral", "1"},
		}
	} else {
		user := attrs.Get("username")
		if user == "" {
			user = Username
		}
		fields = []field{
			{"username", user},
			{"password", tok.AccessToken},
		}
	}
	if !tok.Expiry.IsZero() {
		fields = append(fields, field{"password_expiry_utc", strconv.FormatInt(tok.Expiry.Unix(), 10)})
	}
	// Encode everything before writing anything: git must never see half an
	// answer.
	b, err := encode(fields)
	if err != nil {
		return fmt.Errorf("git credential get: %w", err)
	}
	if _, err := out.Write(b); err != nil {
		return fmt.Errorf("git credential get: write answer: %w", err)
	}
	return nil
}

// erase is what git calls when the server rejected the credential it was
// given: drop that token, if it is still the cached one.
func erase(ctx context.Context, attrs Attributes, profile string, p Tokens) error {
	token := attrs.Get("credential")
	if token == "" {
		token = attrs.Get("password")
	}
	if token == "" {
		return nil
	}
	if err := p.Invalidate(ctx, profile, token); err != nil {
		return fmt.Errorf("git credential erase: %w", err)
	}
	return nil
}
