// Command refresh-loop is DT's original "keep a long-running script
// authenticated" example on this module's auth package: it calls the API every
// few seconds and refreshes the access token when less than the refresh
// buffer (60 s) of its lifetime is left.
//
//	DT_SERVICE_ACCOUNT_KEY_ID=… DT_SERVICE_ACCOUNT_EMAIL=… DT_SERVICE_ACCOUNT_SECRET=… \
//	  go run ./examples/refresh-loop
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

type config struct {
	apiURL     string
	interval   time.Duration
	buffer     time.Duration
	iterations int // 0 = forever
}

func main() {
	var cfg config
	flag.StringVar(&cfg.apiURL, "api-url", "https://api.disruptive-technologies.com/v2/projects", "API URL to call")
	flag.DurationVar(&cfg.interval, "interval", 5*time.Second, "time between API calls")
	flag.DurationVar(&cfg.buffer, "refresh-buffer", bearer.DefaultRefreshBuffer, "refresh when less than this is left")
	flag.IntVar(&cfg.iterations, "iterations", 0, "stop after this many calls (0: run until interrupted)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	creds, err := auth.Resolve(auth.Settings{}, os.Getenv)
	if err == nil {
		err = run(ctx, cfg, creds, http.DefaultClient, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "refresh-loop:", err)
		os.Exit(1)
	}
}

// announcing prints "Refreshing..." each time a new token is fetched, as
// DT's example does.
type announcing struct {
	src auth.ContextSource
	out io.Writer
}

func (a announcing) Token() (*oauth2.Token, error) { return a.TokenContext(context.Background()) }

func (a announcing) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	fmt.Fprintln(a.out, "Refreshing...")
	return a.src.TokenContext(ctx)
}

func run(ctx context.Context, cfg config, creds auth.Credentials, hc *http.Client, out io.Writer) error {
	src, err := auth.NewSource(creds, auth.WithHTTPClient(hc))
	if err != nil {
		return err
	}
	tokens := auth.NewReuseSource(announcing{src, out}, cfg.buffer)
	for i := 0; cfg.iterations == 0 || i < cfg.iterations; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(cfg.interval):
			}
		}
		tok, err := tokens.TokenContext(ctx)
		if err != nil {
			return err
		}
		// The simulated API call.
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.apiURL, nil)
		if err != nil {
			return err
		}
		tok.SetAuthHeader(req)
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("calling the API: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("calling the API: %s", resp.Status)
		}
		fmt.Fprintf(out, "Token expires in %ds.\n", int(time.Until(tok.Expiry).Seconds()))
	}
	return nil
}
