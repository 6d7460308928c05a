package backend

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// configKey is the storage key of the engine's configuration.
const configKey = "config"

// engineConfig is dt/config: where the engine may send assertions. It is
// the operator's, not the account writers': whoever may write an account
// chooses its token endpoint, and without this list the engine would POST
// wherever they said, services on the Vault host's own loopback included.
type engineConfig struct {
	// AllowedHosts are the hosts, each "host" (https's own port) or
	// "host:port", an https token endpoint may be on.
	AllowedHosts []string `json:"allowed_token_endpoint_hosts"`
	// AllowLoopbackHTTP allows plain-http endpoints on a loopback address
	// (an emulator on the Vault host), on any port.
	AllowLoopbackHTTP bool `json:"allow_loopback_http"`
}

// defaultConfig allows DT's identity host only, the host of
// auth.DefaultTokenEndpoint.
func defaultConfig() *engineConfig {
	c := &engineConfig{AllowedHosts: []string{}}
	if u, err := url.Parse(auth.DefaultTokenEndpoint); err == nil {
		c.AllowedHosts = append(c.AllowedHosts, hostKey(u.Hostname(), cmp.Or(u.Port(), "443")))
	}
	return c
}

// allows reports why endpoint, which auth.ValidateEndpoint accepted, may
// not be used: nil when it may.
func (c *engineConfig) allows(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("token endpoint %q is not a URL", endpoint)
	}
	switch u.Scheme {
	case "https":
		if slices.Contains(c.AllowedHosts, hostKey(u.Hostname(), cmp.Or(u.Port(), "443"))) {
			return nil
		}
		return fmt.Errorf("token endpoint %q: host %s is not allowed by dt/config (an operator may add it to allowed_token_endpoint_hosts)", endpoint, u.Host)
	case "http":
		if c.AllowLoopbackHTTP && bearer.MayCarry("http", u.Hostname()) {
			return nil
		}
		return fmt.Errorf("token endpoint %q: plain http is not allowed by dt/config (an operator may set allow_loopback_http for an emulator on the Vault host)", endpoint)
	}
	return fmt.Errorf("token endpoint %q: unsupported scheme %q, use https", endpoint, u.Scheme)
}

// hostKey is the form in which an allowed host is stored and compared:
// lower case, without https's own port, IPv6 addresses in brackets.
func hostKey(host, port string) string {
	host = strings.ToLower(host)
	if port == "443" {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, port)
}

// parseAllowedHost checks one entry of allowed_token_endpoint_hosts and
// returns its hostKey.
func parseAllowedHost(entry string) (string, error) {
	bad := fmt.Errorf("allowed_token_endpoint_hosts: %q is not a host or host:port (no scheme, path or user)", entry)
	entry = strings.TrimSpace(entry)
	if entry == "" || strings.ContainsAny(entry, "/@?# \t") {
		return "", bad
	}
	host, port := entry, "443"
	if h, p, err := net.SplitHostPort(entry); err == nil {
		host, port = h, p
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", bad
		}
	} else if strings.HasPrefix(entry, "[") && strings.HasSuffix(entry, "]") {
		host = strings.TrimSuffix(strings.TrimPrefix(entry, "["), "]")
		if _, err := netip.ParseAddr(host); err != nil {
			return "", bad
		}
	} else if strings.Contains(entry, ":") {
		// A bare IPv6 address is ambiguous with host:port; brackets say.
		return "", bad
	}
	if host == "" {
		return "", bad
	}
	// The URL parser must read the entry back as the same host and port.
	u, err := url.Parse("https://" + hostKey(host, port))
	if err != nil || !strings.EqualFold(u.Hostname(), host) || cmp.Or(u.Port(), "443") != port {
		return "", bad
	}
	return hostKey(host, port), nil
}

func (b *Backend) pathConfig() *framework.Path {
	return &framework.Path{
		Pattern: "config",
		Fields: map[string]*framework.FieldSchema{
			"allowed_token_endpoint_hosts": {
				Type:        framework.TypeCommaStringSlice,
				Description: `Hosts an account's https token endpoint may be on: "host" (port 443) or "host:port". Default: DT's identity host.`,
			},
			"allow_loopback_http": {
				Type:        framework.TypeBool,
				Description: "Allow plain-http token endpoints on a loopback address of the Vault host (an emulator, for tests). Default: false.",
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
This path says which token endpoints the accounts may use. Whoever may
write an account chooses its token_endpoint, and the engine sends a token
request there on every refresh; so only an operator should be able to write
this path (grant "update" on dt/config in no policy but the operators').

allowed_token_endpoint_hosts lists the hosts an https token endpoint may be
on, "host" (port 443) or "host:port"; it defaults to DT's identity host.
allow_loopback_http allows plain-http endpoints on the Vault host's loopback
(an emulator); it is false unless set.

    $ vault write dt/config allowed_token_endpoint_hosts=identity.disruptive-technologies.com

Both are checked when an account is written and again at every token read,
so accounts written before a change follow it.
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
		c = &engineConfig{}
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
		"allowed_token_endpoint_hosts": slices.Clone(c.AllowedHosts),
		"allow_loopback_http":          c.AllowLoopbackHTTP,
	}}, nil
}

func (b *Backend) writeConfig(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	old, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	c := *old
	if v, ok := d.GetOk("allowed_token_endpoint_hosts"); ok {
		c.AllowedHosts = []string{}
		for _, entry := range v.([]string) {
			h, err := parseAllowedHost(entry)
			if err != nil {
				return logical.ErrorResponse("%s", err.Error()), nil
			}
			if !slices.Contains(c.AllowedHosts, h) {
				c.AllowedHosts = append(c.AllowedHosts, h)
			}
		}
	}
	if v, ok := d.GetOk("allow_loopback_http"); ok {
		c.AllowLoopbackHTTP = v.(bool)
	}
	e, err := logical.StorageEntryJSON(configKey, &c)
	if err != nil {
		return nil, err
	}
	if err := req.Storage.Put(ctx, e); err != nil {
		return nil, err
	}
	b.forgetConfig()
	return nil, nil
}
