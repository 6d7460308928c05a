package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
)

// newLogger logs every step under --verbose, and otherwise only warnings,
// as single "dt-credential-helper: warning: ..." lines. Neither lets a
// control character through: slog's text handler quotes a value or message
// holding one (strconv.Quote: ESC shows as \x1b), and warnHandler makes its
// line printable.
func newLogger(w io.Writer, verbose bool) *slog.Logger {
	if verbose {
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
			Level: slog.LevelDebug,
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if len(groups) == 0 && a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		}))
	}
	return slog.New(&warnHandler{w: w})
}

// warnHandler prints warnings and errors as one line each.
type warnHandler struct {
	w     io.Writer
	attrs []slog.Attr
}

func (h *warnHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *warnHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(prog + ": warning: " + r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	// One printable line: a warning may quote a server (the error a cached
	// token is served through), whose escapes must not reach a terminal.
	_, err := io.WriteString(h.w, auth.OneLine(b.String())+"\n")
	return err
}

func (h *warnHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &warnHandler{w: h.w, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *warnHandler) WithGroup(string) slog.Handler { return h }
