// Command plugin-host is a small host for the dt-credential-helper token
// provider plugin: it launches `dt-credential-helper plugin`, calls a DT API
// URL a few times with the tokens it serves, and recovers from a token the
// API stops accepting by invalidating it and retrying once.
//
// Against the local emulator (started with the same account as the
// plugin's environment):
//
//	DT_TOKEN_ENDPOINT=http://127.0.0.1:PORT/oauth2/token \
//	  DT_SERVICE_ACCOUNT_KEY_ID=... DT_SERVICE_ACCOUNT_EMAIL=... DT_SERVICE_ACCOUNT_SECRET=... \
//	  go run ./examples/plugin-host -url http://127.0.0.1:PORT/v2/
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/plugin"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/oauth2"
)

func main() {
	bin := flag.String("plugin", plugin.DefaultBinary, "plugin `binary` (looked up on PATH)")
	url := flag.String("url", "https://api.disruptive-technologies.com/v2/projects", "DT API `URL` to call")
	profile := flag.String("profile", "", "profile to ask the plugin for (empty: the plugin's environment)")
	n := flag.Int("n", 3, "number of calls")
	every := flag.Duration("every", time.Second, "pause between calls")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("plugin-host: ")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *bin, *url, *profile, *n, *every); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, bin, url, profile string, n int, every time.Duration) error {
	// The plugin's own logs arrive as hclog JSON on its stderr; go-plugin
	// re-logs them here at their levels.
	logger := hclog.New(&hclog.LoggerOptions{Name: "plugin-host", Level: hclog.Info, Output: os.Stderr})
	p, kill, err := plugin.Launch(plugin.LaunchConfig{Path: bin, Logger: logger})
	if err != nil {
		return err
	}
	// Kill also stops the plugin when the host returns early.
	defer kill()

	src := plugin.TokenSource(ctx, p, profile)
	// oauth2.Transport, not oauth2.NewClient: NewClient wraps the source in
	// its own ReuseTokenSource, which would keep serving a token after
	// src.Invalidate dropped it. src already reuses tokens.
	client := &http.Client{Transport: &oauth2.Transport{Source: src}}
	for i := range n {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(every):
			}
		}
		status, err := get(ctx, client, src, url)
		if err != nil {
			return err
		}
		log.Printf("call %d: %s", i+1, status)
	}
	return nil
}

// get calls url once; on a 401 it has the plugin drop the token (the API
// may have revoked it, or another process rotated the key) and retries once
// with a fresh one, which is all a host needs to survive a token change.
func get(ctx context.Context, client *http.Client, src *plugin.Source, url string) (string, error) {
	for attempt := 0; ; attempt++ {
		// The token this request will carry, to invalidate exactly it.
		tok, err := src.Token()
		if err != nil {
			return "", fmt.Errorf("getting a token: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || attempt > 0 {
			return resp.Status, nil
		}
		log.Printf("%s answered 401; invalidating the token and retrying once", url)
		if err := src.Invalidate(tok.AccessToken); err != nil {
			return "", fmt.Errorf("invalidating the token: %w", err)
		}
	}
}
