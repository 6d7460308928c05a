package provider

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
)

// staticSource stands in for the DT exchange, which auth tests against the
// emulator.
type staticSource struct{}

func (staticSource) Token() (*oauth2.Token, error) {
	return staticSource{}.TokenContext(context.Background())
}

func (staticSource) TokenContext(context.Context) (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: "t", Expiry: time.Now().Add(time.Hour)}, nil
}

// A failed build (the keyring timed out, or the secret is not stored yet) is
// not remembered: a long-lived process recovers on its next refresh.
func TestLazySourceRetriesAFailedBuild(t *testing.T) {
	builds := 0
	notYet := errors.New("no secret in the keyring yet")
	l := &lazySource{build: func() (auth.ContextSource, error) {
		builds++
		if builds == 1 {
			return nil, notYet
		}
		return staticSource{}, nil
	}}
	if _, err := l.Token(); !errors.Is(err, notYet) {
		t.Fatalf("first call: %v, want the build error", err)
	}
	for range 2 {
		if tok, err := l.Token(); err != nil || tok.AccessToken != "t" {
			t.Fatalf("after the cause went away: %v, %v", tok, err)
		}
	}
	if builds != 2 {
		t.Errorf("%d builds, want 2 (a success is kept)", builds)
	}
}
