// Package vaultproc reads a DT token from Vault in a child process, so that
// the program calling it does not link Vault's client: dt-credential-helper
// is started for each kubectl, git and docker call, and the initialisers of
// github.com/hashicorp/vault/api and what it pulls in would run in every one
// of them, cache hits included. The child is dt-credential-helper-plugin
// run as `dt-credential-helper-plugin vault-token`, which links the client
// anyway.
//
// The protocol: the Vault reference is in the child's environment
// (DT_VAULT_PATH, DT_VAULT_ROLE, DT_VAULT_JWT_FILE, DT_VAULT_AUTH_MOUNT,
// with the VAULT_* environment inherited), never on its command line; its
// stdin is empty; it writes one JSON [Reply] to stdout: the token, or an
// error with its [Kind]. Its stderr carries its log. The same child, run
// with [IdentitySubcommand], says who the reference reads as instead
// ([Source.Identity], for the doctor command).
package vaultproc

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// Subcommand is the child program's only argument.
const Subcommand = "vault-token"

// The child gets the Vault reference in the DT_VAULT_* variables
// (vaultenv.Reference.Environ, which vaultenv.FromEnv reads back), the
// variables that name a Vault path without a profile, here holding what the
// parent resolved (flags over profile over environment).

// maxReply bounds what is read of the child's stdout: a token is at most
// 32 KiB.
const maxReply = 256 << 10

// Kind sorts a failure by what the caller does about it.
type Kind string

const (
	// Misconfigured: the reference or the Vault environment is wrong (no
	// Vault token, a bad path, an untrusted CA): the caller's
	// configuration, as package misconfig says.
	Misconfigured Kind = "misconfigured"
	// Permission: Vault refused this identity the path.
	Permission Kind = "permission"
	// Transient: Vault unreachable, sealed, 5xx, or no answer in time; a
	// token still cached may be served.
	Transient Kind = "transient"
	// Other: anything else (nothing at the path, a rejected login, a bad
	// response).
	Other Kind = "other"
)

// Reply is the child's one line on stdout: a token, or Error.
type Reply struct {
	AccessToken string      `json:"access_token,omitempty"`
	TokenType   string      `json:"token_type,omitempty"`
	ExpiresAt   time.Time   `json:"expires_at,omitzero"`
	Error       *ReplyError `json:"error,omitempty"`
}

// ReplyError is a failure as the child reports it. Message never holds a
// token, a JWT or a Vault token.
type ReplyError struct {
	Message string `json:"message"`
	Kind    Kind   `json:"kind"`
}

// Error is a failed read.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the cause, when there is one on this side.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether trying again later may succeed, by the
// convention keyring.Cache reads: it then serves a token it still holds.
func (e *Error) Temporary() bool { return e.Kind == Transient }

// Misconfigured reports whether the reference or the Vault environment is
// wrong (Kind Misconfigured), by the convention package misconfig reads:
// the command exits 2 on it, as on a DT account's configuration error.
func (e *Error) Misconfigured() bool { return e.Kind == Misconfigured }

// Config is how the parent runs the child.
type Config struct {
	Vault vaultenv.Reference
	// Program finds the child's program (sibling.Path); it is called at
	// each read, so a cached call never looks for it.
	Program func() (string, error)
	// Environ is the environment the child starts from (os.Environ); the
	// DT_VAULT_* variables are replaced by Vault's fields and the DT
	// secret is dropped.
	Environ []string
	// Stderr receives the child's log; nil drops it.
	Stderr io.Writer
	// Waiting, when set, is told as a read starts what it waits for,
	// under the read's context, and returns the function to call when
	// the child has answered (tokens.Config.Waiting says why).
	Waiting func(ctx context.Context, what string) (done func())
}

// Source reads tokens by running the child. It is a keyring.Upstream.
type Source struct {
	cfg  Config
	path string // as the child reads it, for messages
}

// NewSource checks cfg.Vault as the child would (vaultenv.Reference.Check),
// so that a bad reference is a configuration error when a profile is
// resolved, not at a miss, and returns a Source; it starts nothing.
func NewSource(cfg Config) (*Source, error) {
	path, err := cfg.Vault.Check()
	if err != nil {
		return nil, &Error{Kind: Misconfigured, Msg: err.Error(), Err: err}
	}
	return &Source{cfg: cfg, path: path}, nil
}

// Token implements oauth2.TokenSource.
func (s *Source) Token() (*oauth2.Token, error) { return s.TokenContext(context.Background()) }

// TokenContext runs the child once, bounded by ctx, and returns its token.
func (s *Source) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	var r Reply
	prog, err := s.call(ctx, Subcommand, "reading "+s.path, &r)
	if err != nil {
		return nil, err
	}
	if e := r.Error; e != nil {
		return nil, replyError(e, fmt.Sprintf("vault: reading %s failed", s.path))
	}
	if r.AccessToken == "" || r.ExpiresAt.IsZero() {
		return nil, &Error{Kind: Other, Msg: fmt.Sprintf("vault: reading %s: %s %s answered without a token or its expiry", s.path, prog, Subcommand)}
	}
	tok := &oauth2.Token{AccessToken: r.AccessToken, TokenType: "Bearer", Expiry: r.ExpiresAt}
	if left := time.Until(r.ExpiresAt); left > 0 {
		tok.ExpiresIn = int64(left / time.Second)
	}
	return tok, nil
}

// call runs the child with argument sub once, bounded by ctx, and decodes
// its one JSON line into reply; doing ("reading PATH") names the call in
// its errors. It returns the child's program, for messages.
func (s *Source) call(ctx context.Context, sub, doing string, reply any) (prog string, err error) {
	env := s.env()
	getenv := func(name string) string { return lookup(env, name) }
	// The child checks again, and what its client really uses; this spares
	// it the start when the environment's address or proxy is refused.
	if err := vaultenv.Check(getenv); err != nil {
		return "", &Error{Kind: Misconfigured, Msg: err.Error(), Err: err}
	}
	prog, err = s.cfg.Program()
	if err != nil {
		return "", &Error{Kind: Other, Msg: err.Error(), Err: err}
	}
	if s.cfg.Waiting != nil {
		defer s.cfg.Waiting(ctx, fmt.Sprintf("Vault at %s (%s)", vaultenv.Address(getenv), doing))()
	}
	cmd := commandContext(ctx, prog, sub)
	cmd.Env = env
	// Stdin stays nil: the child reads /dev/null.
	out := &capped{limit: maxReply}
	cmd.Stdout = out
	cmd.Stderr = s.cfg.Stderr // nil: /dev/null
	runErr := cmd.Run()
	if ctx.Err() != nil {
		// The child was killed before it could say; named as Vault's
		// client names it.
		return prog, &Error{Kind: Transient, Msg: fmt.Sprintf("vault: %s at %s: no answer within the deadline", doing, vaultenv.Address(getenv)), Err: ctx.Err()}
	}
	dec := json.NewDecoder(bytes.NewReader(out.buf.Bytes()))
	if out.over || dec.Decode(reply) != nil {
		// What it wrote is not quoted: it may be part of a token.
		why := "no reply"
		if runErr != nil {
			why = runErr.Error()
		}
		return prog, &Error{Kind: Other, Msg: fmt.Sprintf("vault: %s: %s %s gave no usable answer (%s)", doing, prog, sub, why), Err: runErr}
	}
	return prog, nil
}

// replyError is the failure the child reported, as an *Error of the kind
// it said (an unknown kind is Other); fallback is the message when it
// gave none.
func replyError(e *ReplyError, fallback string) *Error {
	kind := e.Kind
	if !slices.Contains([]Kind{Misconfigured, Permission, Transient}, kind) {
		kind = Other
	}
	return &Error{Kind: kind, Msg: cmp.Or(e.Message, fallback)}
}

// waitDelay bounds the wait for the child's output once ctx has ended it:
// a grandchild holding its stdout open must not hold the caller.
const waitDelay = time.Second

// commandContext is the child's command, with argument sub, killed when
// ctx ends.
func commandContext(ctx context.Context, prog, sub string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, prog, sub)
	cmd.WaitDelay = waitDelay
	return cmd
}

// lookup is the last value of name in env.
func lookup(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}

// env is the child's environment: the parent's, without the DT secret and
// with the reference's variables in place of any it had.
func (s *Source) env() []string {
	env := slices.DeleteFunc(slices.Clone(s.cfg.Environ), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		name = strings.ToUpper(name)
		return name == auth.EnvSecret || slices.Contains(vaultenv.EnvNames(), name)
	})
	return append(env, s.cfg.Vault.Environ()...)
}

// WriteReply writes the child's reply: tok, or err as the child sorted it.
func WriteReply(w io.Writer, tok *oauth2.Token, kind Kind, err error) error {
	var r Reply
	if err != nil {
		r.Error = &ReplyError{Message: err.Error(), Kind: kind}
	} else {
		r = Reply{AccessToken: tok.AccessToken, TokenType: "Bearer", ExpiresAt: tok.Expiry}
	}
	data, merr := json.Marshal(r)
	if merr != nil {
		return merr
	}
	_, werr := w.Write(append(data, '\n'))
	return werr
}

// capped keeps the first limit bytes written to it and notes the rest.
type capped struct {
	buf   bytes.Buffer
	limit int
	over  bool
}

func (c *capped) Write(p []byte) (int, error) {
	if c.buf.Len()+len(p) > c.limit {
		c.over = true
		return 0, errors.New("the reply is too long")
	}
	return c.buf.Write(p)
}
