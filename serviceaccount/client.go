package serviceaccount

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// DefaultAPIURL is DT's REST API.
const DefaultAPIURL = "https://api.disruptive-technologies.com/v2"

// EnvAPIURL names the variable that gives the API's URL instead.
const EnvAPIURL = "DT_API_URL"

const (
	// maxBody bounds how much of an answer is read: a page of keys is a
	// few KiB.
	maxBody = 1 << 20
	// pageSize is the page size a listing asks for.
	pageSize = 100
	// maxPages bounds a listing, whatever the server's page tokens say.
	maxPages = 100
	// maxKeys bounds the keys a listing returns. DT lets a service
	// account have a handful of keys; a rotation records every id listed
	// (in a profile, in a Vault entry), so a listing of more is refused
	// rather than trusted: 100 is far above any real account, and bounds
	// a record to a few KiB.
	maxKeys = 100
)

// Key is a service account's key as the API shows it; its secret is shown
// only once, when it is created ([NewKey]).
type Key struct {
	// Name is the key's resource name,
	// projects/P/serviceaccounts/S/keys/K.
	Name string `json:"name"`
	// ID is the key id: the kid of the assertions it signs.
	ID string `json:"id"`
	// CreateTime is when the key was created; zero when not said.
	CreateTime time.Time `json:"createTime"`
}

// KeyIDs are the ids of keys, in their order; empty, not nil, for none.
func KeyIDs(keys []Key) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

// NewKey is a key just created, with its secret, which DT shows this once.
// Printed with fmt, it shows the key and never the secret.
type NewKey struct {
	Key
	Secret string
}

// String shows the key id and its creation time, not the secret.
func (k NewKey) String() string {
	return "key " + k.ID + " created " + k.CreateTime.UTC().Format(time.RFC3339)
}

// GoString is String, for %#v.
func (k NewKey) GoString() string { return k.String() }

// Client is a client of the key API of DT's REST API for one base URL,
// each request carrying a token of tokens. It follows no redirect (the
// token would go elsewhere), reads at most 1 MiB of an answer, and
// retries nothing: a create that may have taken effect must not be sent
// twice, and its caller knows what to do next. It is safe for concurrent
// use.
type Client struct {
	base   string
	tokens auth.ContextSource
	hc     *http.Client
	log    *slog.Logger
}

// Option configures a [Client].
type Option func(*Client)

// WithHTTPClient sets the HTTP client whose transport the requests use.
func WithHTTPClient(c *http.Client) Option { return func(cl *Client) { cl.hc = c } }

// WithLogger logs each request (method, path, status) at debug level;
// never a token or a secret.
func WithLogger(l *slog.Logger) Option { return func(cl *Client) { cl.log = l } }

// NewClient returns a client of the API at apiURL ([DefaultAPIURL] when
// empty), whose requests carry tokens' tokens. apiURL must be https, or
// plain http to a loopback host (bearer.MayCarry): each request carries a
// token. A URL that will not do is an *auth.ConfigError.
func NewClient(apiURL string, tokens auth.ContextSource, opts ...Option) (*Client, error) {
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	if err := CheckAPIURL(apiURL); err != nil {
		return nil, err
	}
	c := &Client{base: strings.TrimRight(apiURL, "/"), tokens: tokens, hc: http.DefaultClient, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(c)
	}
	hc := *c.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	return c, nil
}

// CheckAPIURL reports whether apiURL can be the API's URL: absolute, with
// no user, query or fragment, and https or plain http to a loopback host.
func CheckAPIURL(apiURL string) error {
	u, err := url.Parse(apiURL)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		return &auth.ConfigError{Msg: fmt.Sprintf("API URL %.100q is not an absolute URL", apiURL)}
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return &auth.ConfigError{Msg: fmt.Sprintf("API URL %s must have no user, query or fragment", u.Redacted())}
	case !bearer.MayCarry(u.Scheme, u.Hostname()):
		return &auth.ConfigError{Msg: fmt.Sprintf("API URL %s: use https (plain http is allowed only to a loopback host), since each request carries a token", u.Redacted())}
	}
	return nil
}

// keysURL is the URL of id's keys, or of one of them.
func (c *Client) keysURL(id ID, keyID string) (string, error) {
	if err := id.Check(); err != nil {
		return "", &auth.ConfigError{Msg: err.Error(), Err: err}
	}
	u := c.base + "/" + id.String() + "/keys"
	if keyID == "" {
		return u, nil
	}
	if err := CheckID("key", keyID); err != nil {
		return "", &auth.ConfigError{Msg: err.Error(), Err: err}
	}
	return u + "/" + keyID, nil
}

// CreateKey creates a key of service account id and returns it with its
// secret. Unless the server refused it ([MayHaveCreated]), a failure
// leaves open whether the key was created.
func (c *Client) CreateKey(ctx context.Context, id ID) (NewKey, error) {
	u, err := c.keysURL(id, "")
	if err != nil {
		return NewKey{}, err
	}
	op := "creating a key of " + id.String()
	body, err := c.do(ctx, op, http.MethodPost, u)
	if err != nil {
		return NewKey{}, err
	}
	var created struct {
		Key    Key    `json:"key"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(body, &created); err != nil {
		return NewKey{}, &Error{Op: op, Status: http.StatusOK, Message: "the answer is not a created key: " + auth.Sanitize(body)}
	}
	if err := CheckID("key", created.Key.ID); err != nil || created.Secret == "" {
		return NewKey{}, &Error{Op: op, Status: http.StatusOK, Message: "the answer holds no key id or no secret: " + auth.Sanitize(body, created.Secret)}
	}
	return NewKey{Key: created.Key, Secret: created.Secret}, nil
}

// ListKeys returns every key of service account id, page by page. A page
// holding an id that is not an id ([CheckID]), or more than 100 keys in
// all, fails the listing: the ids are recorded and shown.
func (c *Client) ListKeys(ctx context.Context, id ID) ([]Key, error) {
	u, err := c.keysURL(id, "")
	if err != nil {
		return nil, err
	}
	op := "listing the keys of " + id.String()
	var keys []Key
	token := ""
	for range maxPages {
		q := url.Values{"pageSize": {fmt.Sprint(pageSize)}}
		if token != "" {
			q.Set("pageToken", token)
		}
		body, err := c.do(ctx, op, http.MethodGet, u+"?"+q.Encode())
		if err != nil {
			return nil, err
		}
		var page struct {
			Keys []Key  `json:"keys"`
			Next string `json:"nextPageToken"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, &Error{Op: op, Status: http.StatusOK, Message: "the answer is not a page of keys: " + auth.Sanitize(body)}
		}
		for _, k := range page.Keys {
			if err := CheckID("key", k.ID); err != nil {
				return nil, &Error{Op: op, Status: http.StatusOK, Message: "the answer lists a key whose " + err.Error()}
			}
		}
		if keys = append(keys, page.Keys...); len(keys) > maxKeys {
			return nil, &Error{Op: op, Status: http.StatusOK, Message: fmt.Sprintf("the answer lists more than %d keys, more than a service account has", maxKeys)}
		}
		if page.Next == "" {
			return keys, nil
		}
		if page.Next == token {
			return nil, &Error{Op: op, Status: http.StatusOK, Message: "the server gave the same page token twice"}
		}
		token = page.Next
	}
	return nil, &Error{Op: op, Status: http.StatusOK, Message: fmt.Sprintf("more than %d pages of keys", maxPages)}
}

// DeleteKey deletes key keyID of service account id. A key that is not
// there is an error [errors.Is] finds [ErrNotFound] in.
func (c *Client) DeleteKey(ctx context.Context, id ID, keyID string) error {
	u, err := c.keysURL(id, keyID)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, "deleting key "+keyID+" of "+id.String(), http.MethodDelete, u)
	return err
}

// DeleteKeyGone deletes key keyID of service account id, as DeleteKey
// does, and returns nil once the key is not at DT. DT's "not found"
// counts as gone only when a listing of id's keys confirms it: a key
// asked for under another service account is not found either.
func (c *Client) DeleteKeyGone(ctx context.Context, id ID, keyID string) error {
	err := c.DeleteKey(ctx, id, keyID)
	if !errors.Is(err, ErrNotFound) {
		return err
	}
	keys, lerr := c.ListKeys(ctx, id)
	switch {
	case lerr != nil:
		return fmt.Errorf("%w; listing the keys of %s, to confirm it is gone, failed: %w", err, id, lerr)
	case slices.ContainsFunc(keys, func(k Key) bool { return k.ID == keyID }):
		return fmt.Errorf("%w, yet %s lists it", err, id)
	}
	return nil
}

// do sends one request with a token and returns the body of a 2xx answer.
func (c *Client) do(ctx context.Context, op, method, u string) ([]byte, error) {
	tok, err := c.tokens.TokenContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: getting a token: %w", op, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, &auth.ConfigError{Msg: fmt.Sprintf("%s: %v", op, err), Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		c.log.Debug("key API request", "method", method, "path", req.URL.Path, "error", auth.OneLine(err.Error()))
		return nil, &Error{Op: op, Err: transportError(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	c.log.Debug("key API request", "method", method, "path", req.URL.Path, "status", resp.StatusCode)
	switch {
	case err != nil:
		return nil, &Error{Op: op, Status: resp.StatusCode, Err: fmt.Errorf("reading the answer: %w", err)}
	case len(body) > maxBody:
		return nil, &Error{Op: op, Status: resp.StatusCode, Message: "the answer is larger than 1 MiB"}
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, &Error{Op: op, Status: resp.StatusCode, Message: message(body)}
	}
	return body, nil
}

// message is what an error answer says, sanitised: DT's "error" member,
// else an excerpt.
func message(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return auth.Sanitize([]byte(e.Error))
	}
	return auth.Sanitize(body)
}

// transportError is err without the URL a *url.Error repeats (the
// operation names what was asked).
func transportError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
