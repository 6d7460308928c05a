package plugin

import (
	"context"
	"errors"
	"io"
	"iter"
	"time"

	dtcredentialv1 "github.com/dt-credential-helper/dt-credential-helper/proto/dtcredential/v1"
	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"golang.org/x/oauth2"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// GRPCPlugin is the go-plugin plugin for the token provider. The host uses
// it empty (PluginMap); the plugin process sets Impl.
type GRPCPlugin struct {
	// gRPC only: the net/rpc methods report that they are unsupported.
	goplugin.NetRPCUnsupportedPlugin

	// Impl serves the tokens (plugin process only).
	Impl Tokens
	// Classify sorts Impl's errors into the sentinels, and so into gRPC
	// codes; nil means Impl's errors wrap the sentinels themselves.
	Classify Classifier
	// Clock paces WatchToken; nil means the system clock.
	Clock Clock
	// Logger receives WatchToken's retries; nil discards them.
	Logger hclog.Logger
	// RefreshBuffer is Impl's refresh buffer, by package bearer's
	// convention (zero: the default): WatchToken sends a token's successor
	// when the token is due by it, as Impl refreshes.
	RefreshBuffer time.Duration
}

// GRPCServer registers the Go implementation as the gRPC service.
func (p *GRPCPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	dtcredentialv1.RegisterTokenProviderServer(s, &GRPCServer{Impl: p.Impl, Classify: p.Classify, Clock: p.Clock, Logger: p.Logger, RefreshBuffer: p.RefreshBuffer})
	return nil
}

// GRPCClient returns the TokenProvider that calls the plugin over conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &GRPCClient{client: dtcredentialv1.NewTokenProviderClient(conn)}, nil
}

// GRPCServer is the gRPC service over the plugin process's Tokens.
type GRPCServer struct {
	dtcredentialv1.UnimplementedTokenProviderServer

	// Impl, Classify, Clock, Logger and RefreshBuffer are as in
	// GRPCPlugin.
	Impl          Tokens
	Classify      Classifier
	Clock         Clock
	Logger        hclog.Logger
	RefreshBuffer time.Duration
}

// GetToken implements the GetToken RPC.
func (s *GRPCServer) GetToken(ctx context.Context, req *dtcredentialv1.GetTokenRequest) (*dtcredentialv1.GetTokenResponse, error) {
	tok, err := s.Impl.Token(ctx, req.GetProfile(), req.GetForceRefresh())
	if err == nil && tok == nil {
		err = errNoToken
	}
	if err != nil {
		return nil, toStatus(ctx, s.Classify, err)
	}
	return toProto(tok), nil
}

// InvalidateToken implements the InvalidateToken RPC.
func (s *GRPCServer) InvalidateToken(ctx context.Context, req *dtcredentialv1.InvalidateTokenRequest) (*dtcredentialv1.InvalidateTokenResponse, error) {
	if err := s.Impl.Invalidate(ctx, req.GetProfile(), req.GetAccessToken()); err != nil {
		return nil, toStatus(ctx, s.Classify, err)
	}
	return &dtcredentialv1.InvalidateTokenResponse{}, nil
}

// WatchToken implements the WatchToken RPC; see watch for the pacing.
func (s *GRPCServer) WatchToken(req *dtcredentialv1.WatchTokenRequest, stream grpc.ServerStreamingServer[dtcredentialv1.GetTokenResponse]) error {
	ctx := stream.Context()
	w := watcher{p: s.Impl, classify: s.Classify, clock: s.Clock, log: s.Logger, buffer: s.RefreshBuffer}
	err := w.run(ctx, req.GetProfile(), func(tok *oauth2.Token) error {
		return stream.Send(toProto(tok))
	})
	return toStatus(ctx, s.Classify, err)
}

// GRPCClient is the host's TokenProvider over a gRPC connection.
type GRPCClient struct {
	client dtcredentialv1.TokenProviderClient
}

// GetToken calls the GetToken RPC.
func (c *GRPCClient) GetToken(ctx context.Context, profile string, forceRefresh bool) (*oauth2.Token, error) {
	resp, err := c.client.GetToken(ctx, &dtcredentialv1.GetTokenRequest{Profile: profile, ForceRefresh: forceRefresh})
	if err != nil {
		return nil, fromStatus(err)
	}
	return fromProto(resp), nil
}

// InvalidateToken calls the InvalidateToken RPC.
func (c *GRPCClient) InvalidateToken(ctx context.Context, profile, accessToken string) error {
	_, err := c.client.InvalidateToken(ctx, &dtcredentialv1.InvalidateTokenRequest{Profile: profile, AccessToken: accessToken})
	return fromStatus(err)
}

// WatchToken calls the WatchToken RPC and yields what the stream carries.
func (c *GRPCClient) WatchToken(ctx context.Context, profile string) iter.Seq2[*oauth2.Token, error] {
	return func(yield func(*oauth2.Token, error) bool) {
		// Cancelling on return closes the stream when the caller breaks.
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := c.client.WatchToken(sctx, &dtcredentialv1.WatchTokenRequest{Profile: profile})
		for err == nil {
			var resp *dtcredentialv1.GetTokenResponse
			if resp, err = stream.Recv(); err == nil && !yield(fromProto(resp), nil) {
				return
			}
		}
		// The host's own cancellation ends the watch, it is not a failure.
		if ctx.Err() != nil || errors.Is(err, io.EOF) {
			return
		}
		yield(nil, fromStatus(err))
	}
}

func toProto(tok *oauth2.Token) *dtcredentialv1.GetTokenResponse {
	resp := &dtcredentialv1.GetTokenResponse{AccessToken: tok.AccessToken, TokenType: tok.Type()}
	if !tok.Expiry.IsZero() {
		resp.ExpiresAt = timestamppb.New(tok.Expiry)
	}
	return resp
}

func fromProto(resp *dtcredentialv1.GetTokenResponse) *oauth2.Token {
	tok := &oauth2.Token{AccessToken: resp.GetAccessToken(), TokenType: resp.GetTokenType()}
	if resp.GetExpiresAt() != nil {
		tok.Expiry = resp.GetExpiresAt().AsTime()
	}
	return tok
}
