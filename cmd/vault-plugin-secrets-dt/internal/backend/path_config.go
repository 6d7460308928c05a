package backend

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/bearer"
	"github.com/dt-credential-helper/dt-credential-helper/internal/hosts"
	"github.com/dt-credential-helper/dt-credential-helper/serviceaccount"
)

// configKey is the storage key of the engine's configuration.
const configKey = "config"

// engineConfig is dt/config: where the engine may send assertions and
// tokens. It is the operator's, not the account writers': whoever may write
// an account chooses its token endpoint and its API URL, and without these
// lists the engine would POST wherever they said, services on the Vault
// host's own loopback included.
type engineConfig struct {
	// AllowedHosts are the hosts, each "host" (https's own port) or
	// "host:port", an https token endpoint may be on.
	AllowedHosts []string `json:"allowed_token_endpoint_hosts"`
	// AllowedAPIHosts are the hosts, in the same form, an https API URL
	// may be on: where a rotation sends the account's tokens.
	AllowedAPIHosts []string `json:"allowed_api_hosts"`
	// AllowLoopbackHTTP allows plain-http endpoints and API URLs on a
	// loopback address (an emulator on the Vault host), on any port.
	AllowLoopbackHTTP bool `json:"allow_loopback_http"`
}

// Names of dt/config's host lists, as fields and in its messages.
const (
	fieldEndpointHosts = "allowed_token_endpoint_hosts"
	fieldAPIHosts      = "allowed_api_hosts"
)

// defaultConfig allows DT's identity host only for token endpoints, the
// host of auth.DefaultTokenEndpoint, and DT's API host only for API URLs,
// the host of serviceaccount.DefaultAPIURL. A stored configuration is
// decoded over it, so that one written before a list existed has the
// list's default.
func defaultConfig() *engineConfig {
	return &engineConfig{AllowedHosts: hostsOf(auth.DefaultTokenEndpoint), AllowedAPIHosts: hostsOf(serviceaccount.DefaultAPIURL)}
}

// hostsOf is the one-entry host list of rawURL's host.
func hostsOf(rawURL string) []string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return []string{}
	}
	key, err := hostKey(u.Host)
	if err != nil {
		return []string{}
	}
	return []string{key}
}

// allows reports why endpoint, which auth.ValidateEndpoint accepted, may
// not be used: nil when it may.
func (c *engineConfig) allows(endpoint string) error {
	return c.allowsURL("token endpoint", endpoint, c.AllowedHosts, fieldEndpointHosts)
}

// allowsAPI reports why apiURL, which serviceaccount.CheckAPIURL
// accepted, may not be used: nil when it may.
func (c *engineConfig) allowsAPI(apiURL string) error {
	return c.allowsURL("API URL", apiURL, c.AllowedAPIHosts, fieldAPIHosts)
}

// allowsURL is the one rule of both lists: https to a host of hosts (the
// list named field), or plain http to a loopback host when
// AllowLoopbackHTTP says so; what names the URL in the error.
func (c *engineConfig) allowsURL(what, rawURL string, hosts []string, field string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%s %q is not a URL", what, rawURL)
	}
	switch u.Scheme {
	case "https":
		if key, err := hostKey(u.Host); err == nil && slices.Contains(hosts, key) {
			return nil
		}
		return fmt.Errorf("%s %q: host %s is not allowed by dt/config (an operator may add it to %s)", what, rawURL, u.Host, field)
	case "http":
		if c.AllowLoopbackHTTP && bearer.MayCarry("http", u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%s %q: plain http is not allowed by dt/config (an operator may set allow_loopback_http for an emulator on the Vault host)", what, rawURL)
	}
	return fmt.Errorf("%s %q: unsupported scheme %q, use https", what, rawURL, u.Scheme)
}

// hostKey is the form in which an allowed host is stored and compared: a
// host or host:port as the git and docker helpers' host lists parse it
// (hosts.ParseEntry: ASCII only, lower case, IPv6 in brackets), without
// https's own port.
func hostKey(hostport string) (string, error) {
	host, port, err := hosts.ParseEntry(hostport)
	if err != nil {
		return "", err
	}
	if port == "443" {
		port = ""
	}
	return hosts.Route{Host: host, Port: port}.String(), nil
}

// parseAllowedHost checks one entry of the host list named field and
// returns its hostKey.
func parseAllowedHost(field, entry string) (string, error) {
	key, err := hostKey(entry)
	if err != nil {
		return "", fmt.Errorf("%s: %q is not a host or host:port (no scheme, path or user): %w", field, entry, err)
	}
	return key, nil
}

func (b *Backend) pathConfig() *framework.Path {
	return &framework.Path{
		Pattern: "config",
		Fields: map[string]*framework.FieldSchema{
			fieldEndpointHosts: {
				Type:        framework.TypeCommaStringSlice,
				Description: `Hosts an account's https token endpoint may be on: "host" (port 443) or "host:port". Default: DT's identity host.`,
			},
			fieldAPIHosts: {
				Type:        framework.TypeCommaStringSlice,
				Description: `Hosts an account's https API URL (where rotations create and delete keys) may be on: "host" (port 443) or "host:port". Default: DT's API host.`,
			},
			"allow_loopback_http": {
				Type:        framework.TypeBool,
				Description: "Allow plain-http token endpoints and API URLs on a loopback address of the Vault host (an emulator, for tests). Default: false.",
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation:   &framework.PathOperation{Callback: b.readConfig},
			logical.UpdateOperation: &framework.PathOperation{Callback: b.writeConfig},
		},
		HelpSynopsis:    "Configure where the engine may send token requests (operators only).",
		HelpDescription: strings.TrimSpace(configHelp),
	}
}

const configHelp = `
This path says which token endpoints and API URLs the accounts may use.
Whoever may write an account chooses its token_endpoint, and the engine
sends a token request there on every refresh, and its api_url, where a
rotation sends the account's access tokens; so only an operator should be
able to write this path (grant "update" on dt/config in no policy but the
operators').

allowed_token_endpoint_hosts lists the hosts an https token endpoint may be
on, "host" (port 443) or "host:port"; it defaults to DT's identity host.
allowed_api_hosts lists the hosts an https API URL may be on, in the same
form; it defaults to DT's API host, api.disruptive-technologies.com.
allow_loopback_http allows plain-http endpoints and API URLs on the Vault
host's loopback (an emulator); it is false unless set.

    $ vault write dt/config allowed_token_endpoint_hosts=identity.disruptive-technologies.com

They are checked when an account is written, again at every token read
(the endpoint) and at every rotation (both), so accounts written before a
change follow it.
`

// config returns the engine's configuration: the stored one, or the
// defaults. It is kept in memory until the key changes (here, or on another
// node: see invalidate), as it is read on every token read.
func (b *Backend) config(ctx context.Context, s logical.Storage) (*engineConfig, error) {
	b.mu.Lock()
	c, gen := b.cfg, b.cfgGen
	b.mu.Unlock()
	if c != nil {
		return c, nil
	}
	e, err := s.Get(ctx, configKey)
	if err != nil {
		return nil, err
	}
	c = defaultConfig()
	if e != nil {
		if err := e.DecodeJSON(c); err != nil {
			return nil, fmt.Errorf("dt/config: the stored entry is not valid: %w", err)
		}
	}
	b.mu.Lock()
	if gen == b.cfgGen { // not changed while it was read
		b.cfg = c
	}
	b.mu.Unlock()
	return c, nil
}

// forgetConfig drops the configuration kept in memory.
func (b *Backend) forgetConfig() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cfg = nil
	b.cfgGen++
}

func (b *Backend) readConfig(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	c, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{
		fieldEndpointHosts:    slices.Clone(c.AllowedHosts),
		fieldAPIHosts:         slices.Clone(c.AllowedAPIHosts),
		"allow_loopback_http": c.AllowLoopbackHTTP,
	}}, nil
}

func (b *Backend) writeConfig(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	old, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	c := *old
	for _, list := range []struct {
		field string
		dst   *[]string
	}{{fieldEndpointHosts, &c.AllowedHosts}, {fieldAPIHosts, &c.AllowedAPIHosts}} {
		field, dst := list.field, list.dst
		v, ok := d.GetOk(field)
		if !ok {
			continue
		}
		*dst = []string{}
		for _, entry := range v.([]string) {
			h, err := parseAllowedHost(field, entry)
			if err != nil {
				return logical.ErrorResponse("%s", err.Error()), nil
			}
			if !slices.Contains(*dst, h) {
				*dst = append(*dst, h)
			}
		}
	}
	if v, ok := d.GetOk("allow_loopback_http"); ok {
		c.AllowLoopbackHTTP = v.(bool)
	}
	if err := putEntry(ctx, req.Storage, configKey, &c); err != nil {
		return nil, err
	}
	b.forgetConfig()
	return nil, nil
}
