package plugin

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestIsPluginProcess(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if IsPluginProcess(getenv) {
		t.Error("IsPluginProcess without the cookie = true")
	}
	env[Handshake.MagicCookieKey] = "something else"
	if IsPluginProcess(getenv) {
		t.Error("IsPluginProcess with a wrong cookie = true")
	}
	env[Handshake.MagicCookieKey] = Handshake.MagicCookieValue
	if !IsPluginProcess(getenv) {
		t.Error("IsPluginProcess with the cookie = false")
	}
}

// TestSlogHandler checks the keys and formats go-plugin's host parses
// (log_entry.go): anything else is shown as an unparsed debug line.
func TestSlogHandler(t *testing.T) {
	tests := []struct {
		level slog.Level
		want  string
	}{
		{slog.LevelDebug - 4, "trace"},
		{slog.LevelDebug, "debug"},
		{slog.LevelInfo, "info"},
		{slog.LevelWarn, "warn"},
		{slog.LevelError, "error"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		slog.New(SlogHandler(&buf, slog.LevelDebug-4)).Log(t.Context(), tt.level, "cached token served", "store", "file")
		var got map[string]any
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatalf("%s: not JSON: %q", tt.want, buf.String())
		}
		ts, _ := got["@timestamp"].(string)
		if _, err := time.Parse("2006-01-02T15:04:05.000000Z07:00", ts); err != nil {
			t.Errorf("%s: @timestamp %q does not parse: %v", tt.want, ts, err)
		}
		delete(got, "@timestamp")
		want := map[string]any{"@level": tt.want, "@message": "cached token served", "store": "file"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: record (-want +got):\n%s", tt.want, diff)
		}
	}
}
