package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/internal/vaultproc"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken"
	"golang.org/x/oauth2"
)

// vaultUpstream reads a Vault account's tokens in this process: a plugin
// server lives as long as its host, and keeps its Vault login in memory
// between reads.
func vaultUpstream(log *slog.Logger) func(profile.Vault) (keyring.Upstream, error) {
	return func(v profile.Vault) (keyring.Upstream, error) {
		src, err := vaulttoken.NewSource(vaulttoken.Config{Path: v.Path, Role: v.Role, JWTFile: v.JWTFile, AuthMount: v.AuthMount, Log: log})
		if err != nil {
			return nil, err
		}
		return vaultSource{src: src, path: v.Path}, nil
	}
}

// vaultSource is a vaulttoken.Source that refuses a token that is not a
// bearer token, as the helper's child refuses it. Its errors are
// vaulttoken's, whose Misconfigured() and Temporary() classify sorts (a
// configuration error is FailedPrecondition) and the cache reads (it
// serves a token it holds while Vault is down).
type vaultSource struct {
	src  *vaulttoken.Source
	path string
}

func (v vaultSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	tok, err := v.src.TokenContext(ctx)
	if err != nil {
		return nil, err
	}
	return checked(tok, v.path)
}

// checked refuses tok unless it passes the rule the token cache holds every
// token to (RFC 6750 b64token); the error never quotes the token.
func checked(tok *oauth2.Token, path string) (*oauth2.Token, error) {
	if err := auth.CheckToken(tok.AccessToken); err != nil {
		return nil, fmt.Errorf("vault: %s: the access token Vault returned is refused: it %w", path, err)
	}
	return tok, nil
}

// vaultToken is the `vault-token` subcommand, which dt-credential-helper
// runs on a cache miss of a Vault account (package vaultproc): one read of
// the path DT_VAULT_PATH and the rest name, its reply one JSON object on
// stdout, its steps logged to stderr (which the helper shows only under
// --verbose). A token that is not a bearer token is refused here, unprinted.
func vaultToken(ctx context.Context, stdout, stderr io.Writer, getenv func(string) string) error {
	v := vaultproc.FromEnv(getenv)
	// As the helper's own --verbose log, whose stderr this is then.
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	tok, err := readVault(ctx, v, log)
	return vaultproc.WriteReply(stdout, tok, replyKind(err), err)
}

func readVault(ctx context.Context, v profile.Vault, log *slog.Logger) (*oauth2.Token, error) {
	src, err := vaulttoken.NewSource(vaulttoken.Config{Path: v.Path, Role: v.Role, JWTFile: v.JWTFile, AuthMount: v.AuthMount, Log: log})
	if err != nil {
		return nil, err
	}
	tok, err := src.TokenContext(ctx)
	if err != nil {
		return nil, err
	}
	return checked(tok, v.Path)
}

// replyKind sorts a failure into the reply's kinds by the behaviours the
// helper reads back from them (Misconfigured, Temporary), and a Vault
// refusal of the path, which has no behaviour of its own.
func replyKind(err error) vaultproc.Kind {
	var ve *vaulttoken.Error
	var temp interface{ Temporary() bool }
	switch {
	case misconfig.Is(err):
		return vaultproc.Misconfigured
	case errors.As(err, &ve) && ve.Kind == vaulttoken.Denied:
		return vaultproc.Permission
	case errors.As(err, &temp) && temp.Temporary():
		return vaultproc.Transient
	}
	return vaultproc.Other
}
