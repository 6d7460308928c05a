package plugin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/bearer"
)

// fakeTokens stands in for the CLI's cached token source
// (internal/tokens' Sources, which cmd/dt-credential-helper-plugin wires
// in): no identity service runs here, and these tests are about the
// plugin glue. Like the real cache it keeps one token per profile, serves it
// while it is fresh (bearer.Fresh with buffer) and mints a new one otherwise
// or when forced, and a token it hands out says its lifetime in ExpiresIn.
type fakeTokens struct {
	ttl, buffer time.Duration
	now         func() time.Time
	// blockDir, when set, gets a file "blocked" once a call for profile
	// "block" is waiting, so a test in another process can act on it.
	blockDir string

	mu sync.Mutex
	// stale: a token that is due is served again while it has not expired,
	// as the cache does after a failed refresh or while it backs off.
	stale       bool
	errs        map[string]error
	cache       map[string]*oauth2.Token
	asked       int
	minted      int
	forced      int
	invalidated []string
}

func newFake(ttl, buffer time.Duration) *fakeTokens {
	return &fakeTokens{ttl: ttl, buffer: buffer, now: time.Now, errs: map[string]error{}, cache: map[string]*oauth2.Token{}}
}

func (f *fakeTokens) Token(ctx context.Context, profile string, force bool) (*oauth2.Token, error) {
	switch profile {
	case "block":
		if f.blockDir != "" {
			_ = os.WriteFile(filepath.Join(f.blockDir, "blocked"), nil, 0o600)
		}
		<-ctx.Done()
		return nil, fmt.Errorf("waiting for a token: %w", ctx.Err())
	case "pid":
		return &oauth2.Token{AccessToken: strconv.Itoa(os.Getpid()), TokenType: "Bearer"}, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked++
	if err := f.errs[profile]; err != nil {
		return nil, err
	}
	if force {
		f.forced++
	}
	if tok := f.cache[profile]; tok != nil && !force && bearer.Fresh(tok.Expiry, f.ttl, f.buffer, f.now()) {
		return tok, nil
	}
	if tok := f.cache[profile]; tok != nil && !force && f.stale && tok.Expiry.After(f.now()) {
		return tok, nil
	}
	return f.mintLocked(profile), nil
}

// mint puts a new token in the cache, as another process sharing it would.
func (f *fakeTokens) mint(profile string) *oauth2.Token {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mintLocked(profile)
}

func (f *fakeTokens) mintLocked(profile string) *oauth2.Token {
	f.minted++
	tok := &oauth2.Token{
		AccessToken: fmt.Sprintf("tok-%d", f.minted),
		TokenType:   "bearer",
		Expiry:      f.now().Add(f.ttl),
		ExpiresIn:   int64(f.ttl / time.Second),
	}
	f.cache[profile] = tok
	return tok
}

func (f *fakeTokens) Invalidate(ctx context.Context, profile, accessToken string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[profile]; err != nil {
		return err
	}
	f.invalidated = append(f.invalidated, profile+"/"+accessToken)
	if tok := f.cache[profile]; tok != nil && tok.AccessToken == accessToken {
		delete(f.cache, profile)
	}
	return nil
}

func (f *fakeTokens) setErr(profile string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[profile] = err
}

func (f *fakeTokens) setStale(stale bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stale = stale
}

func (f *fakeTokens) counts() (minted, forced int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.minted, f.forced
}

// asks is how many Token calls reached the fake (for profiles other than
// "block" and "pid"): over gRPC, how many GetToken RPCs the host made.
func (f *fakeTokens) asks() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked
}
