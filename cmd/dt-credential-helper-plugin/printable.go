package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/plugin"
)

// The plugin's errors and log lines quote servers: a certificate's names in
// Go's TLS error, a proxy's refusal, Vault's answers. A host shows them (its
// log, its terminal, its own error messages), so everything this program
// hands it passes through auth.OneLine, the rule the helper's own output
// follows, here at the two places where the text leaves: the token
// sources' errors (the gRPC message, and WatchToken's retry warnings) and
// the slog handler (the cache's and Vault's steps, as JSON the host decodes
// back into the raw text).

// printableTokens serves p with each error's message made one printable
// line; the error still unwraps to p's, which classify sorts.
type printableTokens struct{ p plugin.Tokens }

func (t printableTokens) Token(ctx context.Context, profile string, force bool) (*oauth2.Token, error) {
	tok, err := t.p.Token(ctx, profile, force)
	return tok, printable(err)
}

func (t printableTokens) Invalidate(ctx context.Context, profile, accessToken string) error {
	return printable(t.p.Invalidate(ctx, profile, accessToken))
}

// printableError is an error whose message is made one printable line.
type printableError struct{ err error }

func (e printableError) Error() string { return auth.OneLine(e.err.Error()) }
func (e printableError) Unwrap() error { return e.err }

func printable(err error) error {
	if err == nil {
		return nil
	}
	return printableError{err}
}

// newLog is the plugin process's slog logger: JSON lines on w that the host
// parses (plugin.SlogHandler), which it decodes back into the text it logs,
// so the text is made printable before it is encoded.
func newLog(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(printableHandler{plugin.SlogHandler(w, level)})
}

// printableHandler passes records on to h with the message and every
// value made one printable line; a value that is not a string (an error,
// anything else given as any) is logged as its text.
type printableHandler struct{ h slog.Handler }

func (p printableHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return p.h.Enabled(ctx, l)
}

func (p printableHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, auth.OneLine(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(printableAttr(a))
		return true
	})
	return p.h.Handle(ctx, out)
}

func (p printableHandler) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = printableAttr(a)
	}
	return printableHandler{p.h.WithAttrs(clean)}
}

func (p printableHandler) WithGroup(name string) slog.Handler {
	return printableHandler{p.h.WithGroup(name)}
}

func printableAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, auth.OneLine(v.String()))
	case slog.KindAny:
		return slog.String(a.Key, auth.OneLine(fmt.Sprint(v.Any())))
	case slog.KindGroup:
		group := v.Group()
		clean := make([]any, len(group))
		for i, g := range group {
			clean[i] = printableAttr(g)
		}
		return slog.Group(a.Key, clean...)
	}
	return slog.Attr{Key: a.Key, Value: v}
}
