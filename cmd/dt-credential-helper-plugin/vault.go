package main

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/internal/vaultproc"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
	"golang.org/x/oauth2"
)

// vaultUpstream reads a Vault account's tokens in this process: a plugin
// server lives as long as its host, and keeps its Vault login in memory
// between reads.
func vaultUpstream(log *slog.Logger) func(vaultenv.Reference) (keyring.Upstream, error) {
	return func(v vaultenv.Reference) (keyring.Upstream, error) {
		src, err := newVaultSource(v, log)
		if err != nil {
			return nil, err
		}
		return vaultSource{src: src}, nil
	}
}

// vaultSource is a vaulttoken.Source, whose token vaulttoken holds to the
// bearer-token rule. Its errors are vaulttoken's, whose Misconfigured() and
// Temporary() classify sorts (a configuration error is FailedPrecondition)
// and the cache reads (it serves a token it holds while Vault is down).
type vaultSource struct {
	src *vaulttoken.Source
}

func (v vaultSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	tok, err := v.src.TokenContext(ctx)
	if err != nil {
		return nil, err
	}
	return tok, nil
}

// vaultToken is the `vault-token` subcommand, which dt-credential-helper
// runs on a cache miss of a Vault account (package vaultproc): one read of
// the path DT_VAULT_PATH and the rest name, its reply one JSON object on
// stdout, its steps logged to stderr (which the helper shows only under
// --verbose). A token that is not a bearer token is refused (by vaulttoken),
// unprinted.
func vaultToken(ctx context.Context, stdout, stderr io.Writer, getenv func(string) string) error {
	v := vaultenv.FromEnv(getenv)
	tok, err := readVault(ctx, v, childLog(stderr))
	return vaultproc.WriteReply(stdout, tok, replyKind(err), err)
}

// vaultIdentity is the `vault-identity` subcommand, which
// dt-credential-helper doctor runs for a Vault account: who the reference
// DT_VAULT_PATH and the rest name reads as (vaulttoken.Source.Identity:
// Vault's health, the Vault token's lookup, its capabilities on the path),
// one JSON object on stdout, as vault-token's reply is; no DT token is
// read, and neither the Vault token nor the JWT is written.
func vaultIdentity(ctx context.Context, stdout, stderr io.Writer, getenv func(string) string) error {
	src, err := newVaultSource(vaultenv.FromEnv(getenv), childLog(stderr))
	var id vaulttoken.Identity
	if err == nil {
		id, err = src.Identity(ctx)
	}
	return vaultproc.WriteIdentityReply(stdout, id, replyKind(err), err)
}

// childLog is the log of a child the helper runs, to stderr: as the
// helper's own --verbose log, which it is shown as.
func childLog(stderr io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

func readVault(ctx context.Context, v vaultenv.Reference, log *slog.Logger) (*oauth2.Token, error) {
	src, err := newVaultSource(v, log)
	if err != nil {
		return nil, err
	}
	return src.TokenContext(ctx)
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

// newVaultSource is the Vault reader of v, logging to log.
func newVaultSource(v vaultenv.Reference, log *slog.Logger) (*vaulttoken.Source, error) {
	return vaulttoken.NewSource(vaulttoken.Config{Path: v.Path, Role: v.Role, JWTFile: v.JWTFile, AuthMount: v.AuthMount, Log: log})
}
