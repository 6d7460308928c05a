// Package plugin is the hashicorp/go-plugin glue for the token provider: the
// handshake and plugin set both sides agree on, the gRPC adapters, Serve for
// the plugin process and Launch for a host. It translates between gRPC and
// Go; the cached token source it serves decides everything else.
//
// A host launches `dt-credential-helper plugin` and asks it for tokens:
//
//	p, stop, err := plugin.Launch(plugin.LaunchConfig{})
//	if err != nil { ... }
//	defer stop()
//	src := plugin.TokenSource(ctx, p, "")
//	client := &http.Client{Transport: &oauth2.Transport{Source: src}}
//	// on a 401: src.Invalidate(token), then retry once
//
// The plugin process (`dt-credential-helper plugin`, or any invocation with
// the magic cookie set) hands over, with execve, to
// dt-credential-helper-plugin installed next to it, which calls Serve with
// the CLI's cached source, so CLI and hosts share one token cache. The
// helper itself does not link this package: each kubectl, git and docker
// call would pay for gRPC's start-up.
package plugin

import (
	"context"
	"iter"

	goplugin "github.com/hashicorp/go-plugin"
	"golang.org/x/oauth2"
)

// Name is the key of the token provider in the plugin set.
const Name = "token_provider"

// Handshake is what host and plugin check before talking: a plugin built for
// another protocol version, or a binary started without the cookie, is
// refused. It is a value, never modified.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "DT_CREDENTIAL_HELPER_PLUGIN",
	MagicCookieValue: "dt-token-provider",
}

// PluginMap is the plugin set a host dispenses from. The plugin process
// serves its own set with its Tokens filled in (see Serve).
var PluginMap = map[string]goplugin.Plugin{
	Name: &GRPCPlugin{},
}

// TokenProvider is what the plugin serves and the host calls. An empty
// profile means the credentials in the plugin process's environment.
// Errors a host branches on match ErrRejected, ErrUnavailable,
// ErrUnknownProfile, ErrConfig and ErrExited with errors.Is.
type TokenProvider interface {
	// GetToken returns a valid token, from the shared cache when it holds
	// one; forceRefresh asks for a new one from the identity service.
	GetToken(ctx context.Context, profile string, forceRefresh bool) (*oauth2.Token, error)
	// InvalidateToken drops accessToken from the cache, for a host whose API
	// call was answered 401; a token that is not cached is not an error.
	InvalidateToken(ctx context.Context, profile, accessToken string) error
	// WatchToken yields the current token at once, then a fresh one before
	// each expiry, so a host never waits on the network. The sequence ends
	// without an error when ctx is cancelled or the loop breaks, and with a
	// single error when the plugin gives up (rejected credentials, unknown
	// profile, plugin gone); transient refresh failures are retried by the
	// plugin and never reach the host.
	WatchToken(ctx context.Context, profile string) iter.Seq2[*oauth2.Token, error]
}

// Tokens is what the plugin process serves: it gives a profile's token and
// forgets one. The plugin program implements it over the CLI's cached token
// source, so a token fetched by the CLI is served to hosts and back. Hosts
// see the gRPC service instead, as a [TokenProvider].
type Tokens interface {
	// Token returns a valid token for profile, refreshing first when force
	// is set.
	Token(ctx context.Context, profile string, force bool) (*oauth2.Token, error)
	// Invalidate drops accessToken from profile's cache if it is the cached
	// token; anything else is not an error.
	Invalidate(ctx context.Context, profile, accessToken string) error
}
