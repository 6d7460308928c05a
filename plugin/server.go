package plugin

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
)

// ErrNotPluginProcess is returned by Serve when the binary was run by hand:
// only a host sets the magic cookie and reads the handshake from stdout.
var ErrNotPluginProcess = errors.New("the plugin command serves DT tokens to a host program over hashicorp/go-plugin " +
	"and is started by that host (it sets DT_CREDENTIAL_HELPER_PLUGIN); it is not meant to be run by hand")

// IsPluginProcess reports whether a host started this process as its
// plugin, whatever its arguments say.
func IsPluginProcess(getenv func(string) string) bool {
	return getenv(Handshake.MagicCookieKey) == Handshake.MagicCookieValue
}

// Serve serves p to the host that started this process, its errors sorted
// into gRPC codes by classify (see Classifier), and returns when the host is
// done with it. Without the magic cookie it returns
// ErrNotPluginProcess at once, where go-plugin would print its own notice
// and exit 1, so the caller reports it like any other error. Nothing but
// go-plugin's handshake line may reach stdout; log to logger (see
// NewLogger), never to stdout.
//
// On Unix the process's socket is private whatever the umask, and the
// process removes it and exits when told to (SIGTERM, SIGHUP) or when its
// host is gone, killed before it could stop the plugin.
func Serve(p Tokens, classify Classifier, logger hclog.Logger, opts ...ServeOption) error {
	if !IsPluginProcess(os.Getenv) {
		return ErrNotPluginProcess
	}
	release, err := guard(logger)
	if err != nil {
		return err
	}
	defer release()
	gp := &GRPCPlugin{Impl: p, Classify: classify, Logger: logger}
	for _, o := range opts {
		o(gp)
	}
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins: goplugin.PluginSet{
			Name: gp,
		},
		GRPCServer: goplugin.DefaultGRPCServer,
		Logger:     logger,
	})
	return nil
}

// ServeOption configures what [Serve] serves.
type ServeOption func(*GRPCPlugin)

// WithRefreshBuffer tells Serve the refresh buffer p's cache refreshes by
// (see GRPCPlugin.RefreshBuffer); without it, the default.
func WithRefreshBuffer(d time.Duration) ServeOption {
	return func(gp *GRPCPlugin) { gp.RefreshBuffer = d }
}

// NewLogger returns the plugin process's logger: hclog JSON on stderr, which
// the host parses and re-logs at each line's level. It binds the real
// stderr now, before Serve redirects os.Stderr into go-plugin's stdio
// stream, so call it before Serve.
func NewLogger(level hclog.Level) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       Name,
		Level:      level,
		Output:     os.Stderr,
		JSONFormat: true,
	})
}

// SlogHandler writes slog records as the JSON lines a go-plugin host parses
// (@level, @message, @timestamp), for code that logs with log/slog, such as
// the token cache, to show up in the host's log at the right level. Pass
// os.Stderr before calling Serve.
func SlogHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			// JSON has no durations: slog writes nanoseconds, which the
			// host shows as floats (lock_wait=1e+10).
			if a.Value.Kind() == slog.KindDuration {
				return slog.String(a.Key, a.Value.Duration().String())
			}
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.LevelKey:
				// hclog's names; slog's WARN and hclog's warn differ only in
				// case, but DEBUG-4 and the like need mapping.
				return slog.String("@level", hclogLevel(a.Value.Any().(slog.Level)))
			case slog.MessageKey:
				a.Key = "@message"
			case slog.TimeKey:
				// The exact layout go-plugin's host parses.
				return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			}
			return a
		},
	})
}

func hclogLevel(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}
