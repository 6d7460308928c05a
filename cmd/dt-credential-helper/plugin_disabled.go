//go:build noplugin

package main

import (
	"context"
	"errors"
)

// Built with -tags noplugin: no gRPC or go-plugin code is linked, which makes
// every other call start faster (see docs/performance.md).

// The go-plugin handshake's cookie value, as in plugin.Handshake.
const cookieValue = "dt-token-provider"

func isPluginProcess(getenv func(string) string) bool { return getenv(pluginCookieKey) == cookieValue }

func runPlugin(context.Context, env, []string) error {
	return errors.New("this binary was built with -tags noplugin and cannot serve the go-plugin token provider; build it without that tag")
}
