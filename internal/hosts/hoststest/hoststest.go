// Package hoststest is what the tests of the git and docker protocols
// share: a host set and a fake hosts.Tokens that records what it is asked.
package hoststest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/internal/hosts"
)

// Token is the access token NewTokens hands out; tests look for it in
// what must not show it.
const Token = "tok-SECRET-1234567890"

// Expiry is the expiry of Token, 2030-01-01 in Unix seconds.
const Expiry = 1893456000

// Set serves the DT hosts, localhost:8080 and [::1]:9000 with the default
// profile, and staging.example.com with profile "staging".
func Set(t testing.TB) *hosts.Set {
	t.Helper()
	set, err := hosts.Default("localhost:8080,[::1]:9000", hosts.Route{Host: "staging.example.com", Profile: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// Handler is a protocol's Handle: gitcred.Handle, or dockercred.Handle
// with its version given.
type Handler func(ctx context.Context, action string, in io.Reader, out io.Writer, set *hosts.Set, p hosts.Tokens, log *slog.Logger) error

// Call runs action through h, reading in, against Set and p, logging to
// log (nil: nowhere), and returns what h wrote and its error.
func Call(t testing.TB, h Handler, action string, in io.Reader, p hosts.Tokens, log *slog.Logger) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := h(t.Context(), action, in, &out, Set(t), p, log)
	return out.String(), err
}

// A Case is one request of a protocol and all it must come to.
type Case struct {
	Name        string
	In          string      // what the protocol reads
	Want        string      // what it writes
	Profiles    []string    // whose token it asks for, in order
	Invalidated [][2]string // {profile, token} of each token it drops
}

// Run runs each case as a subtest: action through h, with NewTokens, and
// no error.
func Run(t *testing.T, h Handler, action string, cases []Case) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			p := NewTokens()
			out, err := Call(t, h, action, strings.NewReader(c.In), p, nil)
			if err != nil {
				t.Fatalf("%s: %v", action, err)
			}
			got := Case{Name: c.Name, In: c.In, Want: out, Profiles: p.TokenCalls, Invalidated: p.Invalidated}
			if diff := cmp.Diff(c, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", action, diff)
			}
		})
	}
}

// A Failure is a request of a protocol that must fail.
type Failure struct {
	Name    string
	Action  string
	In      io.Reader
	Tokens  *FakeTokens // nil: NewTokens
	WantErr string      // what the error says, in part
}

// RunFailures runs each failure as a subtest: action through h must fail
// saying WantErr, write nothing and quote no token; check, if not nil,
// sees each error too.
func RunFailures(t *testing.T, h Handler, failures []Failure, check func(t *testing.T, f Failure, err error)) {
	t.Helper()
	for _, f := range failures {
		t.Run(f.Name, func(t *testing.T) {
			p := f.Tokens
			if p == nil {
				p = NewTokens()
			}
			out, err := Call(t, h, f.Action, f.In, p, nil)
			if err == nil || !strings.Contains(err.Error(), f.WantErr) {
				t.Fatalf("%s error = %v, want one containing %q", f.Action, err, f.WantErr)
			}
			if strings.Contains(err.Error(), Token) || strings.Contains(err.Error(), "SECRET") || out != "" {
				t.Errorf("error %q, output %q: want no secret and no output", err, out)
			}
			if check != nil {
				check(t, f, err)
			}
		})
	}
}

// NewTokens returns a FakeTokens that hands out Token, expiring at Expiry.
func NewTokens() *FakeTokens {
	return &FakeTokens{Tok: &oauth2.Token{AccessToken: Token, TokenType: "Bearer", Expiry: time.Unix(Expiry, 0)}}
}

// FakeTokens stands in for the cached token source the git and docker
// protocols are handed as their hosts.Tokens; it records calls so tests
// can prove that no token is requested for other hosts. It is not safe
// for concurrent use.
type FakeTokens struct {
	Tok         *oauth2.Token // what Token returns
	Err         error         // what Token and Invalidate return
	TokenCalls  []string      // profiles Token was asked for
	Invalidated [][2]string   // {profile, token} of each Invalidate call
}

// Token records profile and returns Tok and Err.
func (p *FakeTokens) Token(_ context.Context, profile string) (*oauth2.Token, error) {
	p.TokenCalls = append(p.TokenCalls, profile)
	return p.Tok, p.Err
}

// Invalidate records profile and token and returns Err.
func (p *FakeTokens) Invalidate(_ context.Context, profile, token string) error {
	p.Invalidated = append(p.Invalidated, [2]string{profile, token})
	return p.Err
}

var _ hosts.Tokens = (*FakeTokens)(nil)
