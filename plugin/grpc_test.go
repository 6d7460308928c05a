package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goplugin "github.com/hashicorp/go-plugin"
	"golang.org/x/oauth2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// connect serves f in-process over a real gRPC connection, as go-plugin
// would across processes, and returns the host's side.
func connect(t *testing.T, f Tokens) TokenProvider {
	t.Helper()
	return connectPlugin(t, &GRPCPlugin{Impl: f, Classify: testClassify})
}

// connectPlugin serves gp and returns a host's client of it.
func connectPlugin(t *testing.T, gp *GRPCPlugin) TokenProvider {
	t.Helper()
	client, server := goplugin.TestPluginGRPCConn(t, false, map[string]goplugin.Plugin{Name: gp})
	t.Cleanup(func() {
		// Close asks the server to stop (go-plugin's controller service);
		// stopping it here as well would race with that.
		client.Close()
		select {
		case <-server.DoneCh:
		case <-time.After(5 * time.Second):
			t.Error("the plugin server did not stop")
		}
	})
	raw, err := client.Dispense(Name)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(TokenProvider)
}

func TestGetToken(t *testing.T) {
	f := newFake(time.Hour, time.Minute)
	p := connect(t, f)
	ctx := context.Background()

	got, err := p.GetToken(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	want := f.cache[""]
	if diff := cmp.Diff(tokenView(want), tokenView(got)); diff != "" {
		t.Errorf("GetToken (-want +got):\n%s", diff)
	}
	if got.Type() != "Bearer" {
		t.Errorf("Type() = %q, want Bearer", got.Type())
	}

	again, err := p.GetToken(ctx, "", false)
	if err != nil || again.AccessToken != got.AccessToken {
		t.Errorf("second GetToken = %v, %v; want the cached %s", again, err, got.AccessToken)
	}
	forced, err := p.GetToken(ctx, "", true)
	if err != nil || forced.AccessToken == got.AccessToken {
		t.Errorf("forced GetToken = %v, %v; want a new token", forced, err)
	}
}

// tokenView is what crosses the wire; the rest of oauth2.Token does not.
func tokenView(tok *oauth2.Token) map[string]string {
	return map[string]string{
		"access_token": tok.AccessToken,
		"type":         tok.Type(),
		"expiry":       tok.Expiry.UTC().Format(time.RFC3339Nano),
	}
}

// errClassified is an error only testClassify knows: it wraps no sentinel.
var errClassified = errors.New("an error only the classifier knows")

// testClassify stands for the classifier the plugin process's main passes
// to Serve.
func testClassify(err error) error {
	if errors.Is(err, errClassified) {
		return ErrRejected
	}
	return classOf(nil, err)
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		code     codes.Code
		sentinel error
	}{
		{"rejected", fmt.Errorf("token request for key id k1: %w", ErrRejected), codes.Unauthenticated, ErrRejected},
		{"transient", fmt.Errorf("connection refused: %w", ErrUnavailable), codes.Unavailable, ErrUnavailable},
		{"unknown profile", fmt.Errorf("%w %q: create it with `dt-credential-helper login --profile x`", ErrUnknownProfile, "x"), codes.InvalidArgument, ErrUnknownProfile},
		{"missing config", fmt.Errorf("missing key id: %w", ErrConfig), codes.FailedPrecondition, ErrConfig},
		{"canceled", fmt.Errorf("keyring: %w", context.Canceled), codes.Canceled, context.Canceled},
		{"deadline", fmt.Errorf("keyring: %w", context.DeadlineExceeded), codes.DeadlineExceeded, context.DeadlineExceeded},
		{"classified by the classifier", errClassified, codes.Unauthenticated, ErrRejected},
		{"other", errors.New("something broke"), codes.Internal, nil},
	}
	sentinels := []error{ErrRejected, ErrUnavailable, ErrUnknownProfile, ErrConfig, ErrExited, context.Canceled, context.DeadlineExceeded}
	f := newFake(time.Hour, time.Minute)
	p := connect(t, f)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.setErr(tt.name, tt.err)
			calls := map[string]func() error{
				"GetToken": func() error {
					_, err := p.GetToken(context.Background(), tt.name, false)
					return err
				},
				"InvalidateToken": func() error {
					return p.InvalidateToken(context.Background(), tt.name, "tok")
				},
				"WatchToken": func() error {
					for _, err := range p.WatchToken(context.Background(), tt.name) {
						return err
					}
					return errors.New("the watch ended without an error")
				},
			}
			for call, fn := range calls {
				err := fn()
				if got := status.Code(err); got != tt.code {
					t.Errorf("%s: status.Code = %v, want %v (err %v)", call, got, tt.code, err)
				}
				if err == nil || !strings.Contains(err.Error(), tt.err.Error()) {
					t.Errorf("%s: error %q does not carry the provider's message %q", call, err, tt.err)
				}
				for _, s := range sentinels {
					if got, want := errors.Is(err, s), s == tt.sentinel; got != want {
						t.Errorf("%s: errors.Is(err, %v) = %v, want %v", call, s, got, want)
					}
				}
			}
		})
	}
}

func TestHostDeadline(t *testing.T) {
	p := connect(t, newFake(time.Hour, time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := p.GetToken(ctx, "block", false)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("GetToken past the host's deadline = %v, want DeadlineExceeded", err)
	}
}

func TestInvalidateToken(t *testing.T) {
	f := newFake(time.Hour, time.Minute)
	p := connect(t, f)
	ctx := context.Background()
	tok, err := p.GetToken(ctx, "work", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.InvalidateToken(ctx, "work", tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"work/" + tok.AccessToken}, f.invalidated); diff != "" {
		t.Errorf("invalidated (-want +got):\n%s", diff)
	}
	next, err := p.GetToken(ctx, "work", false)
	if err != nil || next.AccessToken == tok.AccessToken {
		t.Errorf("GetToken after invalidation = %v, %v; want a new token", next, err)
	}
}

// TestWatchTokenRenewsBeforeExpiry runs on the real clock with short-lived
// tokens: the point is that the host holds the successor before the first
// token expires. The plugin is told the cache's buffer, as the plugin
// program tells it.
func TestWatchTokenRenewsBeforeExpiry(t *testing.T) {
	const ttl, buffer = 1500 * time.Millisecond, 500 * time.Millisecond
	f := newFake(ttl, buffer)
	p := connectPlugin(t, &GRPCPlugin{Impl: f, Classify: testClassify, RefreshBuffer: buffer})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var got []*oauth2.Token
	var at []time.Time
	for tok, err := range p.WatchToken(ctx, "") {
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		got = append(got, tok)
		at = append(at, time.Now())
		if len(got) == 3 {
			cancel()
		}
	}
	if ctx.Err() != context.Canceled {
		t.Fatalf("the watch ended before three tokens: %v", ctx.Err())
	}
	for i := 1; i < len(got); i++ {
		prev, tok := got[i-1], got[i]
		if tok.AccessToken == prev.AccessToken {
			t.Errorf("token %d repeats token %d", i, i-1)
		}
		if !at[i].Before(prev.Expiry) {
			t.Errorf("token %d arrived at %v, after token %d expired at %v", i, at[i], i-1, prev.Expiry)
		}
		if !tok.Expiry.After(prev.Expiry) {
			t.Errorf("token %d expires %v, not after token %d (%v)", i, tok.Expiry, i-1, prev.Expiry)
		}
	}
}

func TestWatchTokenEndsOnCancel(t *testing.T) {
	p := connect(t, newFake(time.Hour, time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	first := make(chan struct{})
	go func() {
		var err error
		n := 0
		for _, err = range p.WatchToken(ctx, "") {
			if n++; n == 1 {
				close(first)
			}
		}
		done <- err
	}()
	select {
	case <-first:
	case <-time.After(5 * time.Second):
		t.Fatal("no first token")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("watch ended with %v after cancel, want no error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not end after cancel")
	}
}

func TestSourceReusesAndInvalidates(t *testing.T) {
	f := newFake(time.Hour, time.Minute)
	p := connect(t, f)
	src := TokenSource(context.Background(), p, "")
	a, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.Token()
	if err != nil || b.AccessToken != a.AccessToken {
		t.Fatalf("second Token = %v, %v; want reuse of %s", b, err, a.AccessToken)
	}
	if minted, _ := f.counts(); minted != 1 {
		t.Errorf("minted %d tokens, want 1", minted)
	}
	if err := src.Invalidate(a.AccessToken); err != nil {
		t.Fatal(err)
	}
	c, err := src.Token()
	if err != nil || c.AccessToken == a.AccessToken {
		t.Errorf("Token after Invalidate = %v, %v; want a new token", c, err)
	}
}

// TestSourceAsksWhenDue: a host's Source asks the plugin again exactly when
// the plugin's cache refreshes (bearer's rule, the default buffer), never
// earlier, so each ask it makes brings a new token.
func TestSourceAsksWhenDue(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	f := newFake(time.Hour, bearer.DefaultRefreshBuffer)
	f.now = func() time.Time { return now }
	src := TokenSource(context.Background(), connect(t, f), "")
	src.now = f.now
	for _, step := range []struct {
		at     time.Duration
		minted int
	}{
		{0, 1},
		{58 * time.Minute, 1},
		{59*time.Minute - time.Nanosecond, 1},
		{59 * time.Minute, 2}, // due: the cache has refreshed it too
		{60 * time.Minute, 2},
	} {
		now = t0.Add(step.at)
		if _, err := src.Token(); err != nil {
			t.Fatal(err)
		}
		if minted, _ := f.counts(); minted != step.minted {
			t.Errorf("at %v: the plugin minted %d tokens, want %d", step.at, minted, step.minted)
		}
	}
}

// TestSourceFollowsShorterBuffer: the plugin's cache refreshes by the
// user's buffer, here 30 s, which the host does not know. From 60 s left
// (the default buffer) down to 30 s the cache serves the same token again;
// the Source keeps it instead of asking the plugin on every call, and
// serves the new one once the cache has refreshed.
func TestSourceFollowsShorterBuffer(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	f := newFake(time.Hour, 30*time.Second)
	f.now = func() time.Time { return now }
	src := TokenSource(context.Background(), connect(t, f), "")
	src.now = f.now
	expiry := t0.Add(time.Hour)
	for _, step := range []struct {
		name  string
		left  time.Duration // before the token's expiry
		calls int
		asks  int // GetToken RPCs so far
		want  string
	}{
		{"first", time.Hour, 1, 1, "tok-1"},
		{"due by the default buffer, the cache serves it again", 45 * time.Second, 1, 2, "tok-1"},
		{"served again: reused", 45 * time.Second, 10, 2, "tok-1"},
		{"within the re-ask interval", 45*time.Second - reaskEvery/2, 10, 2, "tok-1"},
		{"the re-ask interval passed: asks again", 45*time.Second - reaskEvery, 10, 3, "tok-1"},
		{"the cache has refreshed", 30 * time.Second, 1, 4, "tok-2"},
		{"the new token is reused", 30 * time.Second, 10, 4, "tok-2"},
	} {
		t.Run(step.name, func(t *testing.T) {
			now = expiry.Add(-step.left)
			for range step.calls {
				tok, err := src.Token()
				if err != nil {
					t.Fatal(err)
				}
				if tok.AccessToken != step.want {
					t.Fatalf("Token = %s, want %s", tok.AccessToken, step.want)
				}
			}
			if got := f.asks(); got != step.asks {
				t.Errorf("%d GetToken RPCs so far, want %d", got, step.asks)
			}
		})
	}
}
