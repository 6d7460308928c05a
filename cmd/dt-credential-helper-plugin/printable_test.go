package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// hostile is text a server chose: OSC 52 (clipboard write), OSC 0 (window
// title), CSI 1A (cursor up), a C1 CSI, a right-to-left override and a
// newline that would start a forged log line.
const hostile = "\x1b]52;c;cHduZWQ=\x07\x1b]0;owned\x07\x1b[1A\u009b2J\u202e\nforged line"

// controls are the characters of hostile that must not reach a host.
const controls = "\x1b\x07\u009b\u202e\n"

// TestLogIsPrintableOnceDecoded: the JSON lines the plugin logs, decoded as
// a go-plugin host decodes them, hold no control character in the message
// or any value, however it was given (string, error, Stringer, group,
// With), and keep the text around them.
func TestLogIsPrintableOnceDecoded(t *testing.T) {
	var b strings.Builder
	log := newLog(&b, slog.LevelDebug).With("server", hostile).WithGroup("g")
	log.Warn("refresh failed: "+hostile,
		"error", errors.New(hostile), "text", hostile, "stringer", stringer(hostile),
		slog.Group("inner", "value", hostile), "count", 3)

	lines := 0
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		lines++
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		strs := 0
		walkStrings(rec, func(path, s string) {
			strs++
			if strings.ContainsAny(s, controls) {
				t.Errorf("%s = %q holds a control character", path, s)
			}
			if strings.Contains(path, "@message") || strings.Contains(path, "text") {
				if !strings.Contains(s, "52;c;cHduZWQ=") || !strings.Contains(s, "forged line") {
					t.Errorf("%s = %q lost the text", path, s)
				}
			}
		})
		if strs < 7 {
			t.Errorf("the record has %d strings, want the message and every value: %q", strs, sc.Text())
		}
	}
	if lines != 1 {
		t.Errorf("%d lines, want 1: %q", lines, b.String())
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

// walkStrings calls f with each string in v, a decoded JSON value, and its
// path.
func walkStrings(v any, f func(path, s string)) {
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case string:
			f(path, v)
		case map[string]any:
			for k, e := range v {
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	walk("", v)
}

// TestPrintableError: an error of the token sources reaches the host as
// one printable line that still unwraps to its cause (classify's cases are
// in TestClassify; the real plugin process, in cmd/dt-credential-helper's
// TestPluginHostGetsNoServerEscapes).
func TestPrintableError(t *testing.T) {
	err := printable(fmt.Errorf("token request failed: %s: %w", hostile, context.DeadlineExceeded))
	if strings.ContainsAny(err.Error(), controls) || !strings.Contains(err.Error(), "forged line") {
		t.Errorf("error %q, want one printable line keeping the text", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("the error no longer unwraps to its cause")
	}
	if printable(nil) != nil {
		t.Error("printable(nil) is not nil")
	}
}
