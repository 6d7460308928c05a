package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/plugin"
)

// TestRunningPluginFollowsTheProfile: a go-plugin host's plugin process,
// started before the profile changes, follows it as a new CLI process
// would: after `rotate` its next refresh uses the new key (the old one is
// deleted at DT), and after `logout` it serves the profile no more. A
// plugin that kept the profile it read at its start failed both: the
// refresh with the deleted key was refused, and the logged-out profile's
// secret, kept in memory, still minted tokens.
func TestRunningPluginFollowsTheProfile(t *testing.T) {
	f := newRotateFixture(t, profile.SecretInFile)
	p, _ := mustLaunchPlugin(t, plugin.LaunchConfig{Env: f.env})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keyOf := func(when string, force bool) string {
		t.Helper()
		tok, err := p.GetToken(ctx, f.name, force)
		if err != nil {
			t.Fatalf("GetToken %s: %v", when, err)
		}
		info, ok := f.srv.Token(tok.AccessToken)
		if !ok || !f.srv.Valid(tok.AccessToken) {
			t.Fatalf("GetToken %s: not a valid token of the emulator's", when)
		}
		return info.KeyID
	}
	if k := keyOf("before rotate", false); k != f.keyID {
		t.Fatalf("GetToken before rotate: a token of key %s, want %s", k, f.keyID)
	}
	if r := f.run(t, "rotate"); r.code != 0 {
		t.Fatalf("rotate: exit %d\n%s", r.code, r.stderr)
	}
	newKey := f.stored(t).KeyID
	if k := keyOf("after rotate, forced", true); k != newKey {
		t.Errorf("GetToken after rotate: a token of key %s, want the new key %s", k, newKey)
	}
	if k := keyOf("after rotate", false); k != newKey {
		t.Errorf("GetToken after rotate: a token of key %s, want the new key %s", k, newKey)
	}

	if r := f.run(t, "logout"); r.code != 0 {
		t.Fatalf("logout: exit %d\n%s", r.code, r.stderr)
	}
	requests := f.srv.Requests()
	for _, force := range []bool{false, true} {
		if tok, err := p.GetToken(ctx, f.name, force); err == nil {
			_, ok := f.srv.Token(tok.AccessToken)
			t.Errorf("GetToken (force %v) after logout served a token (the emulator's: %v)", force, ok)
		} else if !strings.Contains(err.Error(), f.name) {
			t.Errorf("GetToken (force %v) after logout: %v, want it to name the profile", force, err)
		}
	}
	if n := f.srv.Requests() - requests; n != 0 {
		t.Errorf("%d token requests for a logged-out profile", n)
	}
}
