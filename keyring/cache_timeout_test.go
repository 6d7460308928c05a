package keyring

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// blockingUpstream stands in for the DT exchange: it reports the deadline it
// was given and waits for its context to end.
type blockingUpstream struct{ deadline chan time.Time }

func (u blockingUpstream) Token() (*oauth2.Token, error) {
	return u.TokenContext(context.Background())
}

func (u blockingUpstream) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	d, _ := ctx.Deadline()
	u.deadline <- d
	<-ctx.Done()
	return nil, ctx.Err()
}

// CacheConfig.Timeout bounds a refresh that the caller's context does not.
func TestCacheTimeoutBoundsRefresh(t *testing.T) {
	up := blockingUpstream{deadline: make(chan time.Time, 1)}
	s := NewCache(up, CacheConfig{Location: Location{Store: NewFileStore(privateTempDir(t)), LockDir: privateTempDir(t)}, Timeout: 200 * time.Millisecond})
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := s.TokenContext(context.Background())
		done <- err
	}()
	d := <-up.deadline
	if d.IsZero() || d.Before(start) || d.After(start.Add(time.Second)) {
		t.Errorf("upstream deadline %v, want about 200ms after %v", d, start)
	}
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("refresh error = %v, want a deadline error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the refresh was not bounded by CacheConfig.Timeout")
	}
}
