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

	"github.com/dt-credential-helper/dt-credential-helper/internal/hosts"
)

// Username is sent with the token when git did not name a user; servers that
// take a bearer token as a password ignore it, and Google's helpers use the
// same name.
const Username = "oauth2accesstoken"

// Handle runs one git credential action, reading git's attributes from in and
// writing the answer to out. Only hosts in set get a token, and p is not
// called at all for any other host. Actions other than get, store and
// erase are ignored, as git asks of helpers. On error nothing is written to
// out; the caller reports the error on stderr.
//
// For a host that gets no token, log (if not nil) is told why at Info level:
// git wants silence from the helper, so the caller logs only when asked to.
func Handle(ctx context.Context, action string, in io.Reader, out io.Writer, set *hosts.Set, p hosts.Tokens, log *slog.Logger) error {
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
	if why != nil {
		if log != nil && action != "store" { // store is ignored for every host
			log.Info("git credential " + action + ": no token for " + why.Error())
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
// token: git only sends a host for protocols that have one, and the host
// set decides the rest (hosts.Set.Resolve), on the host exactly as git sends
// it ("host" or "host:port").
func route(attrs Attributes, set *hosts.Set) (profile string, why error) {
	protocol, hostport := attrs.Get("protocol"), attrs.Get("host")
	switch {
	case hostport == "":
		return "", errors.New("a request without a host")
	case protocol == "":
		return "", errors.New("a request without a protocol")
	}
	return set.Resolve(protocol, hostport)
}

func get(ctx context.Context, attrs Attributes, out io.Writer, profile string, p hosts.Tokens) error {
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
func erase(ctx context.Context, attrs Attributes, profile string, p hosts.Tokens) error {
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
