package backend

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
)

// These tests run several engine instances on one storage, as the nodes of
// a Vault cluster do on its replicated storage, each with its own memory.

// TestNewInstanceServesTheSharedToken: a node that did not obtain the token
// (a standby, or a new leader after a failover, whose engine starts with
// empty memory) serves the one in storage: one DT request per token lifetime
// for the whole cluster.
func TestNewInstanceServesTheSharedToken(t *testing.T) {
	for _, standby := range []bool{false, true} {
		t.Run(map[bool]string{false: "new leader", true: "standby"}[standby], func(t *testing.T) {
			h := newHarness(t)
			h.writeAccount(t, "prod", h.account())
			first := h.readToken(t, "prod")["access_token"]
			other := h.node(t, h.storage, standby)
			if got := other.readToken(t, "prod")["access_token"]; got != first {
				t.Fatal("the other node served another token")
			}
			if n := h.srv.Requests(); n != 1 {
				t.Fatalf("two nodes made %d DT requests, want 1", n)
			}
		})
	}
}

// shouldForward reports whether OpenBao's standby would forward a request
// answered with err to the active node: OpenBao 2.6's
// logical.ShouldForward (sdk/logical/error.go; this SDK has no such
// function) matches these texts in the error, which survive the plugin's
// gRPC boundary. The end-to-end cluster test checks the real thing.
func shouldForward(err error) bool {
	return err != nil && (strings.Contains(err.Error(), logical.ErrPerfStandbyPleaseForward.Error()) ||
		strings.Contains(err.Error(), logical.ErrReadOnly.Error()))
}

// TestStandbyForwardsWhatItCannotServe: a standby never asks DT itself (its
// token would be one more per lifetime, and it cannot store it for the
// others); it forwards the read to the active node, which can.
func TestStandbyForwardsWhatItCannotServe(t *testing.T) {
	t.Run("no shared token yet", func(t *testing.T) {
		h := newHarness(t)
		h.writeAccount(t, "prod", h.account())
		standby := h.node(t, h.storage, true)
		if _, err := standby.request(t, logical.ReadOperation, "token/prod", nil); !shouldForward(err) {
			t.Fatalf("standby read with no token stored: %v, want an error that makes Vault forward it", err)
		}
		if n := h.srv.Requests(); n != 0 {
			t.Fatalf("the standby made %d DT requests", n)
		}
	})
	t.Run("the shared token is due", func(t *testing.T) {
		h := newHarness(t)
		h.writeAccount(t, "prod", h.account())
		h.readToken(t, "prod")
		standby := h.node(t, h.storage, true)
		h.clock.add(authtest.DefaultTokenTTL - 30*time.Second)
		if _, err := standby.request(t, logical.ReadOperation, "token/prod", nil); !shouldForward(err) {
			t.Fatalf("standby read of a due token: %v, want an error that makes Vault forward it", err)
		}
		// The active node refreshes it, once, and the standby then
		// serves the new one.
		second := h.readToken(t, "prod")["access_token"]
		if got := standby.readToken(t, "prod")["access_token"]; got != second || h.srv.Requests() != 2 {
			t.Fatalf("after the active node's refresh: standby's token the new one: %v, %d DT requests, want 2", got == second, h.srv.Requests())
		}
	})
	t.Run("an account the standby does not see yet", func(t *testing.T) {
		h := newHarness(t)
		lagging := h.node(t, &logical.InmemStorage{}, true) // replication has not reached it
		lagging.configure(t, map[string]any{"allow_loopback_http": true})
		h.writeAccount(t, "prod", h.account())
		_, err := lagging.request(t, logical.ReadOperation, "token/prod", nil)
		if !shouldForward(err) {
			t.Fatalf("standby read of an account it cannot see: %v, want an error that makes Vault forward it", err)
		}
		// The active node, which has it, answers a missing account as
		// missing.
		if _, err := h.request(t, logical.ReadOperation, "token/nosuch", nil); err == nil || shouldForward(err) || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("active node's read of a missing account: %v", err)
		}
	})
	t.Run("the shared token is another account's", func(t *testing.T) {
		h := newHarness(t)
		h.writeAccount(t, "prod", h.account())
		h.readToken(t, "prod")
		// The standby still has the account as it was before a change
		// the active node has made (new secret, new token stored).
		lagging := &logical.InmemStorage{}
		e, err := h.storage.Get(context.Background(), "accounts/prod")
		if err != nil {
			t.Fatal(err)
		}
		e.Value = []byte(strings.Replace(string(e.Value), secret, "the-old-secret-value", 1))
		for _, key := range []string{"tokens/prod", "config"} {
			te, err := h.storage.Get(context.Background(), key)
			if err != nil || te == nil {
				t.Fatalf("%s not stored: %v", key, err)
			}
			if err := lagging.Put(context.Background(), te); err != nil {
				t.Fatal(err)
			}
		}
		if err := lagging.Put(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		standby := h.node(t, lagging, true)
		if _, err := standby.request(t, logical.ReadOperation, "token/prod", nil); !shouldForward(err) {
			t.Fatalf("standby read with a stored token of other credentials: %v, want a forward", err)
		}
	})
}

func TestSharedTokenFollowsTheAccount(t *testing.T) {
	h := newHarness(t)
	h.writeAccount(t, "prod", h.account())
	h.readToken(t, "prod")
	e, err := h.storage.Get(context.Background(), "tokens/prod")
	if err != nil || e == nil {
		t.Fatalf("no token stored for the other nodes: %v", err)
	}
	if strings.Contains(string(e.Value), secret) {
		t.Error("the stored token entry holds the secret")
	}
	if _, err := h.request(t, logical.DeleteOperation, "accounts/prod", nil); err != nil {
		t.Fatal(err)
	}
	if e, err := h.storage.Get(context.Background(), "tokens/prod"); err != nil || e != nil {
		t.Fatalf("a deleted account's token is still stored (%v)", err)
	}
}
