package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/serviceaccount"
)

// The DT identity service and its key API cannot be reached from here: the
// emulator (auth/authtest) stands in for both, as in the other tests.

func (h *harness) rotate(t *testing.T, name string) (*logical.Response, error) {
	t.Helper()
	return h.request(t, logical.UpdateOperation, "accounts/"+name+"/rotate", nil)
}

// stored is account name as stored.
func (h *harness) stored(t *testing.T, name string) *account {
	t.Helper()
	a, err := h.b.getAccount(context.Background(), h.storage, name)
	if err != nil || a == nil {
		t.Fatalf("account %s: %v, %v", name, a, err)
	}
	return a
}

// keysAtDT are the ids of the service account's keys the emulator has.
func (h *harness) keysAtDT() []string {
	var ids []string
	for _, a := range h.srv.KeysOf(email) {
		ids = append(ids, a.KeyID)
	}
	return ids
}

// secretOf is the secret of a key the emulator has.
func (h *harness) secretOf(keyID string) string {
	for _, a := range h.srv.KeysOf(email) {
		if a.KeyID == keyID {
			return a.Secret
		}
	}
	return ""
}

// works reports whether the account's stored key obtains a token at the
// emulator, asked directly.
func (h *harness) works(t *testing.T, name string) error {
	t.Helper()
	a := h.stored(t, name)
	src, err := auth.NewSource(a.credentials(), auth.WithHTTPClient(h.srv.Client()), auth.WithClock(h.clock.now), auth.WithRetries(0, 0, 0))
	if err != nil {
		return err
	}
	_, err = src.TokenContext(context.Background())
	return err
}

// periodic runs the engine's periodic function as Vault's rollback manager
// does: a rollback request through the framework.
func (h *harness) periodic(t *testing.T) {
	t.Helper()
	if _, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.RollbackOperation, Storage: h.storage}); err != nil {
		t.Fatalf("periodic function: %v", err)
	}
}

// noSecretIn fails t if any of secrets appears in what.
func noSecretIn(t *testing.T, where, what string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(what, s) {
			t.Errorf("%s holds a secret", where)
		}
	}
}

func TestRotate(t *testing.T) {
	h := newHarness(t)
	h.writeAccount(t, "prod", h.account())
	before := h.readToken(t, "prod")["access_token"].(string)

	resp, err := h.rotate(t, "prod")
	if err != nil {
		t.Fatal(err)
	}
	a := h.stored(t, "prod")
	newKey := a.KeyID
	if newKey == keyID || resp.Data["key_id"] != newKey || resp.Data["old_key_id"] != keyID || resp.Data["old_key_deleted"] != true {
		t.Fatalf("rotate answered %v; the account has key %s", resp.Data, newKey)
	}
	if got := h.keysAtDT(); !slices.Equal(got, []string{newKey}) {
		t.Fatalf("DT has keys %v, want only the new one", got)
	}
	newSecret := h.secretOf(newKey)
	if a.Secret != newSecret || a.Secret == secret || a.Staged != nil || len(a.OldKeys) != 0 {
		t.Fatalf("stored: the new key's secret %v, staged %v, old keys %v", a.Secret == newSecret, a.Staged, a.OldKeys)
	}

	// The old key is refused by DT; the token read switches to one of the
	// new key, the one the rotation obtained to prove it: no DT request.
	old := auth.Credentials{KeyID: keyID, Email: email, Secret: secret, TokenEndpoint: h.srv.URL + authtest.TokenPath}
	src, _ := auth.NewSource(old, auth.WithHTTPClient(h.srv.Client()), auth.WithClock(h.clock.now), auth.WithRetries(0, 0, 0))
	if _, err := src.TokenContext(context.Background()); !auth.IsRejected(err) {
		t.Fatalf("the old key after the rotation: %v, want rejected", err)
	}
	requests := h.srv.Requests()
	after := h.readToken(t, "prod")["access_token"].(string)
	if info, _ := h.srv.Token(after); after == before || info.KeyID != newKey || h.srv.Requests() != requests {
		t.Fatalf("token after the rotation: of key %s, a new one %v, %d DT requests", info.KeyID, after != before, h.srv.Requests()-requests)
	}
	// A standby, with empty memory, serves the same token.
	if got := h.node(t, h.storage, true).readToken(t, "prod")["access_token"]; got != after {
		t.Fatal("a standby serves another token than the new key's")
	}

	read, err := h.request(t, logical.ReadOperation, "accounts/prod", nil)
	if err != nil {
		t.Fatal(err)
	}
	created := h.srv.KeysOf(email)[0].CreateTime.UTC().Format(time.RFC3339)
	for k, want := range map[string]any{"key_id": newKey, "key_created": created, "last_rotation_result": "ok", "last_rotation_error": "", "unfinished_rotation": ""} {
		if read.Data[k] != want {
			t.Errorf("account read %s = %v, want %v", k, read.Data[k], want)
		}
	}
	h.clock.add(90 * time.Second)
	if read, _ := h.request(t, logical.ReadOperation, "accounts/prod", nil); read.Data["key_age"] != int64(90) {
		t.Errorf("key_age %v, want 90", read.Data["key_age"])
	}
	noSecretIn(t, "the rotate answer", fmt.Sprint(resp.Data, resp.Warnings), secret, newSecret)
	noSecretIn(t, "the account read", fmt.Sprint(read.Data), secret, newSecret)
	noSecretIn(t, "the engine's log", h.logs.String(), secret, newSecret)
	if !strings.Contains(h.logs.String(), "rotation done") {
		t.Errorf("the log does not say the rotation was done:\n%s", h.logs.String())
	}
	if e, _ := h.storage.Get(context.Background(), leaseKey("prod")); e != nil {
		t.Error("the rotation's lease is still stored")
	}

	// Again: the rotated key rotates too.
	if _, err := h.rotate(t, "prod"); err != nil {
		t.Fatal(err)
	}
	if got := h.keysAtDT(); len(got) != 1 || got[0] == newKey || got[0] != h.stored(t, "prod").KeyID {
		t.Fatalf("after a second rotation DT has %v", got)
	}
	if _, err := h.rotate(t, "nosuch"); codeOf(err) != http.StatusNotFound {
		t.Errorf("rotating a missing account: %v", err)
	}
}

// unchanged fails t unless account prod still has the key it was written
// with, DT still has that key only, and no lease is left.
func (h *harness) unchanged(t *testing.T) {
	t.Helper()
	a := h.stored(t, "prod")
	if a.KeyID != keyID || a.Secret != secret || a.Staged != nil || len(a.OldKeys) != 0 {
		t.Errorf("the account changed: key %s, staged %v, old keys %v", a.KeyID, a.Staged, a.OldKeys)
	}
	if got := h.keysAtDT(); !slices.Equal(got, []string{keyID}) {
		t.Errorf("DT has keys %v, want the old one only", got)
	}
	if e, _ := h.storage.Get(context.Background(), leaseKey("prod")); e != nil {
		t.Error("a lease is left")
	}
}

func TestRotateFailuresChangeNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fault  func(h *harness)
		code   int
		says   string
		cached bool // a token is cached before the rotation
	}{
		{"no right (403)", func(h *harness) { h.srv.SetKeyRight(email, false) }, http.StatusBadRequest, "HTTP 403: the service account lacks the right", true},
		{"DT's token endpoint down", func(h *harness) { h.srv.InjectAlways(authtest.Fault{Status: 503, Body: "down"}) }, http.StatusServiceUnavailable, "HTTP 503", false},
		{"the key API down", func(h *harness) {
			h.srv.InjectKeys(authtest.OpListKeys, authtest.Fault{Status: 503, Body: `{"error":"api-body-marker"}`})
		}, http.StatusServiceUnavailable, "HTTP 503", true},
		{"the create refused", func(h *harness) { h.srv.InjectKeys(authtest.OpCreateKey, authtest.Fault{Status: 429}) }, http.StatusServiceUnavailable, "HTTP 429", true},
		{"the new key never accepted", func(h *harness) {
			h.srv.InjectAlways(authtest.ErrorFault(400, "invalid_grant", "no"))
		}, http.StatusBadRequest, "proving the new key", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.writeAccount(t, "prod", h.account())
			if tc.cached {
				h.readToken(t, "prod")
			}
			tc.fault(h)
			_, err := h.rotate(t, "prod")
			if codeOf(err) != tc.code || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "keeps the key") {
				t.Fatalf("rotate: %v (code %d), want a %d saying %q", err, codeOf(err), tc.code, tc.says)
			}
			if strings.Contains(err.Error(), "api-body-marker") {
				t.Error("the answer repeats what DT's API wrote")
			}
			h.srv.ClearFaults()
			h.srv.SetKeyRight(email, true)
			h.unchanged(t)
			if err := h.works(t, "prod"); err != nil {
				t.Fatalf("the stored key no longer works: %v", err)
			}
			read, _ := h.request(t, logical.ReadOperation, "accounts/prod", nil)
			if read.Data["last_rotation_result"] != "failed" || !strings.Contains(read.Data["last_rotation_error"].(string), tc.says) {
				t.Errorf("account read: last rotation %v: %v", read.Data["last_rotation_result"], read.Data["last_rotation_error"])
			}
			// Once DT is back, the rotation goes through.
			if _, err := h.rotate(t, "prod"); err != nil {
				t.Fatalf("rotate once DT is back: %v", err)
			}
			if got := h.keysAtDT(); len(got) != 1 || got[0] != h.stored(t, "prod").KeyID {
				t.Fatalf("DT has keys %v after the rotation", got)
			}
		})
	}
}

// TestRotateUnfinishedIsFinished: a rotation cut short by DT after it
// created its key is finished by the next run: the staged key is proven and
// switched to (no second key created), an old key left is deleted, and a
// key whose creation answer was lost is reported by its id.
func TestRotateUnfinishedIsFinished(t *testing.T) {
	t.Run("new key not yet proven", func(t *testing.T) {
		h := newHarness(t)
		h.writeAccount(t, "prod", h.account())
		h.readToken(t, "prod")
		h.srv.InjectAlways(authtest.Fault{Status: 503})
		if _, err := h.rotate(t, "prod"); codeOf(err) != http.StatusServiceUnavailable {
			t.Fatalf("rotate with DT's token endpoint down after the create: %v", err)
		}
		h.srv.ClearFaults()
		a := h.stored(t, "prod")
		if a.KeyID != keyID || a.Staged == nil || h.works(t, "prod") != nil {
			t.Fatalf("after the failed proof: key %s, staged %v", a.KeyID, a.Staged)
		}
		h.periodic(t) // the account has no rotation_period: it only finishes
		a = h.stored(t, "prod")
		if a.KeyID == keyID || a.Staged != nil || h.srv.KeyRequests(authtest.OpCreateKey) != 1 {
			t.Fatalf("after the periodic run: key %s, staged %v, %d creates", a.KeyID, a.Staged, h.srv.KeyRequests(authtest.OpCreateKey))
		}
		if got := h.keysAtDT(); !slices.Equal(got, []string{a.KeyID}) {
			t.Fatalf("DT has keys %v", got)
		}
	})
	t.Run("old key not yet deleted", func(t *testing.T) {
		h := newHarness(t)
		h.writeAccount(t, "prod", h.account())
		h.srv.InjectKeys(authtest.OpDeleteKey, authtest.Fault{Drop: true})
		_, err := h.rotate(t, "prod")
		if codeOf(err) != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "deleting the old key "+keyID) {
			t.Fatalf("rotate with the delete dropped: %v", err)
		}
		a := h.stored(t, "prod")
		if a.KeyID == keyID || !slices.Equal(a.oldKeyIDs(), []string{keyID}) || h.works(t, "prod") != nil {
			t.Fatalf("after the failed delete: key %s, old keys %v", a.KeyID, a.OldKeys)
		}
		read, _ := h.request(t, logical.ReadOperation, "accounts/prod", nil)
		if !strings.Contains(read.Data["unfinished_rotation"].(string), "old key "+keyID+" not yet deleted") {
			t.Errorf("account read: unfinished_rotation %q", read.Data["unfinished_rotation"])
		}
		// It cannot be written back meanwhile: it is about to go.
		if _, err := h.request(t, logical.UpdateOperation, "accounts/prod", map[string]any{"key_id": keyID, "secret": secret}); err == nil {
			t.Fatal("the old key being deleted was written back")
		}
		h.periodic(t)
		if got := h.keysAtDT(); !slices.Equal(got, []string{a.KeyID}) || len(h.stored(t, "prod").OldKeys) != 0 {
			t.Fatalf("after the periodic run DT has %v", got)
		}
	})
	t.Run("the create's answer lost", func(t *testing.T) {
		h := newHarness(t)
		h.writeAccount(t, "prod", h.account())
		h.srv.InjectKeys(authtest.OpCreateKey, authtest.Fault{Late: true, Drop: true})
		if _, err := h.rotate(t, "prod"); codeOf(err) != http.StatusServiceUnavailable {
			t.Fatalf("rotate with the create's answer lost: %v", err)
		}
		keys := h.keysAtDT()
		if len(keys) != 2 || h.stored(t, "prod").KeyID != keyID {
			t.Fatalf("DT has %v; the account has %s", keys, h.stored(t, "prod").KeyID)
		}
		lost := keys[1]
		h.periodic(t) // recovers: reports the key nobody holds
		read, _ := h.request(t, logical.ReadOperation, "accounts/prod", nil)
		if got := read.Data["unstored_keys"]; !slices.Equal(got.([]string), []string{lost}) {
			t.Fatalf("unstored_keys %v, want [%s]", got, lost)
		}
		if !strings.Contains(h.logs.String(), "held by no account") {
			t.Error("the log does not report the unstored key")
		}
		// A rotation goes on, and keeps reporting it while DT has it.
		resp, err := h.rotate(t, "prod")
		if err != nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], lost) {
			t.Fatalf("rotate: %v, warnings %v", err, resp)
		}
		if got := h.keysAtDT(); len(got) != 2 || !slices.Contains(got, lost) {
			t.Fatalf("DT has %v, want the new key and the reported one", got)
		}
		// Deleted at DT, as in DT Studio, it is reported no more.
		src, _ := auth.NewSource(h.stored(t, "prod").credentials(), auth.WithHTTPClient(h.srv.Client()), auth.WithClock(h.clock.now))
		c, _ := serviceaccount.NewClient(h.srv.URL+"/v2", src, serviceaccount.WithHTTPClient(h.srv.Client()))
		if err := c.DeleteKey(context.Background(), serviceaccount.ID{Project: "example", ServiceAccount: "fleet"}, lost); err != nil {
			t.Fatal(err)
		}
		if resp, err := h.rotate(t, "prod"); err != nil || len(resp.Warnings) != 0 || len(h.stored(t, "prod").Unstored) != 0 {
			t.Fatalf("rotate after the unstored key was deleted: %v, %v", err, resp)
		}
	})
}

// TestRotateCrashAtEachStep: an engine that stops dead at any step of a
// rotation (as its node would if it died there) leaves an account whose
// stored key works; another instance (the node restarted, or a standby
// become active) refuses to rotate while the lease holds, then finishes
// the job: one working key at DT, and nothing unreported.
func TestRotateCrashAtEachStep(t *testing.T) {
	for _, step := range []string{stepLeased, stepListed, stepCreated, stepStaged, stepProven, stepSwitched, stepDeleted} {
		t.Run(step, func(t *testing.T) {
			h := newHarness(t)
			h.writeAccount(t, "prod", h.account())
			h.readToken(t, "prod")
			h.interrupt = func(s string) bool { return s == step }
			dying := h.engine(t, h.storage, consts.ReplicationPerformancePrimary)
			h.interrupt = nil
			if _, err := dying.rotate(context.Background(), h.storage, "prod", triggerRequest, true); !errors.Is(err, errCrashed) {
				t.Fatalf("the interrupted rotation: %v", err)
			}
			if err := h.works(t, "prod"); err != nil {
				t.Fatalf("after the crash the stored key does not work: %v", err)
			}
			next := h.node(t, h.storage, false)
			if _, err := next.rotate(t, "prod"); codeOf(err) != http.StatusConflict || !strings.Contains(err.Error(), "in progress") {
				t.Fatalf("a rotation while the dead one's lease holds: %v, want a 409", err)
			}
			next.readToken(t, "prod")

			next.clock.add(leaseFor + time.Second)
			next.periodic(t)
			a := next.stored(t, "prod")
			if err := next.works(t, "prod"); err != nil || a.Staged != nil || len(a.OldKeys) != 0 {
				t.Fatalf("after the recovery: %v, staged %v, old keys %v", err, a.Staged, a.OldKeys)
			}
			if e, _ := h.storage.Get(context.Background(), leaseKey("prod")); e != nil {
				t.Error("a lease is left")
			}
			keys := next.keysAtDT()
			want := slices.Concat([]string{a.KeyID}, a.Unstored)
			slices.Sort(keys)
			slices.Sort(want)
			if !slices.Equal(keys, want) {
				t.Fatalf("DT has keys %v; the account holds %s and reports %v", keys, a.KeyID, a.Unstored)
			}
			// Past the staging, the new key is the account's.
			if rotated := a.KeyID != keyID; rotated != (step != stepLeased && step != stepListed && step != stepCreated) {
				t.Errorf("the account has key %s (rotated: %v)", a.KeyID, rotated)
			}
			if tok := next.readToken(t, "prod")["access_token"].(string); !h.srv.Valid(tok) {
				t.Fatal("the token read after the recovery is not valid")
			}
			if _, err := next.rotate(t, "prod"); err != nil {
				t.Fatalf("a rotation after the recovery: %v", err)
			}
		})
	}
}

func TestRotateConcurrentCalls(t *testing.T) {
	h := newHarness(t)
	h.writeAccount(t, "prod", h.account())
	h.readToken(t, "prod")
	h.srv.InjectKeys(authtest.OpCreateKey, authtest.Fault{Delay: 300 * time.Millisecond})
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Go(func() { _, errs[i] = h.rotate(t, "prod") })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case codeOf(err) != http.StatusConflict:
			t.Errorf("a concurrent rotate: %v, want a 409", err)
		}
	}
	if ok != 1 || h.srv.KeyRequests(authtest.OpCreateKey) != 1 {
		t.Fatalf("%d rotations succeeded, %d keys created; want 1 and 1", ok, h.srv.KeyRequests(authtest.OpCreateKey))
	}
	if got := h.keysAtDT(); len(got) != 1 || got[0] != h.stored(t, "prod").KeyID {
		t.Fatalf("DT has %v", got)
	}
}

// TestRotateAcrossNodes: while one node rotates an account, a node that
// becomes active (with its own engine, sharing the storage) neither
// rotates it by request nor by its periodic function; a standby's periodic
// function does nothing at all.
func TestRotateAcrossNodes(t *testing.T) {
	h := newHarness(t)
	h.writeAccount(t, "prod", h.account())
	h.writeAccount(t, "prod", map[string]any{"rotation_period": "10s"})
	h.readToken(t, "prod")
	created, resume := make(chan struct{}), make(chan struct{})
	h.interrupt = func(s string) bool {
		if s == stepCreated {
			close(created)
			<-resume
		}
		return false
	}
	first := h.node(t, h.storage, false)
	h.interrupt = nil
	done := make(chan error)
	go func() { _, err := first.rotate(t, "prod"); done <- err }()
	<-created

	second := h.node(t, h.storage, false)
	if _, err := second.rotate(t, "prod"); codeOf(err) != http.StatusConflict {
		t.Fatalf("a rotation on another active node meanwhile: %v, want a 409", err)
	}
	second.clock.add(15 * time.Second) // due by its period, within the lease
	second.periodic(t)
	standby := h.node(t, h.storage, true)
	standby.periodic(t)
	if _, err := standby.rotate(t, "prod"); !shouldForward(err) {
		t.Errorf("rotate on a standby: %v, want it forwarded", err)
	}
	if n := h.srv.KeyRequests(authtest.OpCreateKey); n != 1 {
		t.Fatalf("%d keys created, want the first node's only", n)
	}
	close(resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := h.keysAtDT(); len(got) != 1 || got[0] != h.stored(t, "prod").KeyID {
		t.Fatalf("DT has %v", got)
	}
}

// staleOnce is a storage whose first read of one key returns the entry as
// it was: a reader that read the account just before a rotation switched
// it.
type staleOnce struct {
	logical.Storage
	key   string
	entry *logical.StorageEntry
	once  sync.Once
}

func (s *staleOnce) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	served := false
	if key == s.key {
		s.once.Do(func() { served = true })
	}
	if served {
		return s.entry, nil
	}
	return s.Storage.Get(ctx, key)
}

// TestTokenReadDuringRotation: a reader that read the account just before
// a rotation and needs a new token exchanges with the key stored now, as
// the old one is deleted.
func TestTokenReadDuringRotation(t *testing.T) {
	h := newHarness(t)
	h.writeAccount(t, "prod", h.account())
	h.readToken(t, "prod")
	old, err := h.storage.Get(context.Background(), storageKey("prod"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.rotate(t, "prod"); err != nil {
		t.Fatal(err)
	}
	h.clock.add(authtest.DefaultTokenTTL - 30*time.Second) // every token due
	req := &logical.Request{Operation: logical.ReadOperation, Path: "token/prod",
		Storage: &staleOnce{Storage: h.storage, key: storageKey("prod"), entry: old}}
	resp, err := h.b.HandleRequest(context.Background(), req)
	if err != nil || resp.IsError() {
		t.Fatalf("a token read with the account as it was before the rotation: %v %v", err, resp.Error())
	}
	if info, _ := h.srv.Token(resp.Data["access_token"].(string)); info.KeyID != h.stored(t, "prod").KeyID {
		t.Fatalf("the token is of key %s", info.KeyID)
	}
}

// TestTokenReadersDuringRotation: 20 readers reading all along a rotation
// all get a token. The key API is slow (100 ms an answer), and DT's tokens
// last 30 s of a clock that runs a second every 10 ms, so that the readers
// refresh the token again and again during the rotation.
func TestTokenReadersDuringRotation(t *testing.T) {
	h := newHarness(t)
	h.srv.SetTokenTTL(30 * time.Second)
	h.writeAccount(t, "prod", h.account())
	h.readToken(t, "prod")
	for _, op := range []string{authtest.OpListKeys, authtest.OpCreateKey, authtest.OpDeleteKey} {
		h.srv.InjectKeys(op, authtest.Fault{Delay: 100 * time.Millisecond})
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				h.clock.add(time.Second)
			}
		}
	})
	var mu sync.Mutex
	var failures []error
	reads := 0
	for range 20 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := h.request(t, logical.ReadOperation, "token/prod", nil)
				mu.Lock()
				reads++
				if err != nil {
					failures = append(failures, err)
				}
				mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		})
	}
	_, err := h.rotate(t, "prod")
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(failures) > 0 {
		t.Fatalf("%d of %d reads during the rotation failed, the first: %v", len(failures), reads, failures[0])
	}
	t.Logf("%d reads during the rotation, %d DT token requests", reads, h.srv.Requests())
}

func TestPeriodicRotation(t *testing.T) {
	h := newHarness(t)
	acct := h.account()
	acct["rotation_period"] = "1h"
	h.writeAccount(t, "prod", acct)
	read, _ := h.request(t, logical.ReadOperation, "accounts/prod", nil)
	next, err := time.Parse(time.RFC3339, read.Data["next_rotation"].(string))
	if left := next.Sub(h.clock.now()); err != nil || left < 53*time.Minute || left > time.Hour {
		t.Fatalf("next_rotation %v (%v), want 54 to 60 minutes ahead (jittered)", read.Data["next_rotation"], err)
	}
	h.periodic(t)
	if n := h.srv.KeyRequests(""); n != 0 {
		t.Fatalf("the periodic function made %d key API requests before the period", n)
	}

	h.clock.add(time.Hour)
	h.periodic(t)
	a := h.stored(t, "prod")
	if a.KeyID == keyID || a.Last == nil || !a.Last.OK || a.Last.Trigger != triggerPeriodic {
		t.Fatalf("after the period: key %s, last %+v", a.KeyID, a.Last)
	}
	if left := a.NextRotation.Sub(h.clock.now()); left < 53*time.Minute || left > time.Hour {
		t.Errorf("the next rotation %v ahead", left)
	}

	// DT failing: the run is skipped and logged, and waits a back-off.
	h.clock.add(time.Hour)
	h.srv.InjectKeys(authtest.OpListKeys, authtest.Fault{Status: 502}, authtest.Fault{Status: 502})
	h.periodic(t)
	a = h.stored(t, "prod")
	if a.Last.OK || a.Failures != 1 || !strings.Contains(h.logs.String(), "rotation failed") || !strings.Contains(h.logs.String(), "next_attempt_after") {
		t.Fatalf("a failed periodic run: last %+v, failures %d; log:\n%s", a.Last, a.Failures, h.logs.String())
	}
	lists := h.srv.KeyRequests(authtest.OpListKeys)
	h.periodic(t)
	if h.srv.KeyRequests(authtest.OpListKeys) != lists {
		t.Fatal("the periodic function tried again within its back-off")
	}
	h.clock.add(retryFirst)
	h.periodic(t) // the second fault: two in a row
	if a = h.stored(t, "prod"); a.Failures != 2 || a.RetryAt.Sub(h.clock.now()) < 108*time.Second {
		t.Fatalf("a second failure: %d failures, retry in %v, want about 2m", a.Failures, a.RetryAt.Sub(h.clock.now()))
	}
	h.clock.add(2 * retryFirst)
	old := a.KeyID
	h.periodic(t)
	if a = h.stored(t, "prod"); a.KeyID == old || !a.Last.OK || a.Failures != 0 {
		t.Fatalf("once DT is back: key %s (was %s), last %+v", a.KeyID, old, a.Last)
	}

	// A standby's periodic function does nothing, due or not.
	h.clock.add(2 * time.Hour)
	requests := h.srv.KeyRequests("")
	h.node(t, h.storage, true).periodic(t)
	if h.srv.KeyRequests("") != requests {
		t.Fatal("a standby's periodic function asked DT's key API")
	}
}

func TestAccountsRotationFields(t *testing.T) {
	h := newHarness(t)
	h.writeAccount(t, "prod", h.account())
	for _, tc := range []struct {
		data map[string]any
		says string
	}{
		{map[string]any{"rotation_period": "5s"}, "at least 10s"},
		{map[string]any{"project": "p"}, "go together"},
		{map[string]any{"project": "p/x", "service_account": "s"}, "not an id"},
		{map[string]any{"api_url": "https://api.example.com/v2"}, "needs the secret again"},
		{map[string]any{"api_url": "https://api.example.com/v2", "secret": secret}, "allowed_api_hosts"},
		{map[string]any{"api_url": "http://api.example.com/v2", "secret": secret}, "plain http is allowed only to a loopback host"},
		{map[string]any{"email": "x@example.com", "rotation_period": "24h"}, "write project and service_account"},
	} {
		t.Run(fmt.Sprint(tc.data), func(t *testing.T) {
			_, err := h.request(t, logical.UpdateOperation, "accounts/prod", tc.data)
			if codeOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("update %v: %v, want a 400 saying %q", tc.data, err, tc.says)
			}
		})
	}
	// project and service_account need no secret; an email of another form
	// rotates with them.
	h.writeAccount(t, "prod", map[string]any{"project": "p", "service_account": "s"})
	h.writeAccount(t, "prod", map[string]any{"email": "x@example.com", "rotation_period": "24h"})
	read, _ := h.request(t, logical.ReadOperation, "accounts/prod", nil)
	if read.Data["project"] != "p" || read.Data["service_account"] != "s" || read.Data["rotation_period"] != int64(86400) {
		t.Fatalf("read %v", read.Data)
	}
}

// TestRotateWrongServiceAccountChangesNothing: project and service_account
// naming another service account fail the rotation before any key is
// created.
func TestRotateWrongServiceAccountChangesNothing(t *testing.T) {
	h := newHarness(t)
	h.srv.AddAccount(authtest.Account{KeyID: "other-key", Email: "other@example.serviceaccount.d21s.com", Secret: "other-secret-1"})
	h.writeAccount(t, "prod", h.account())
	h.writeAccount(t, "prod", map[string]any{"project": "example", "service_account": "other"})
	_, err := h.rotate(t, "prod")
	if codeOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "not among the keys of projects/example/serviceaccounts/other") {
		t.Fatalf("rotate with another service account named: %v", err)
	}
	if n := h.srv.KeyRequests(authtest.OpCreateKey); n != 0 {
		t.Fatalf("%d keys created", n)
	}
	h.writeAccount(t, "prod", map[string]any{"project": "", "service_account": ""})
	h.unchanged(t)
}

// TestRotateFollowsConfig: an API host dt/config no longer allows is not
// asked, at the rotation as at the write.
func TestRotateFollowsConfig(t *testing.T) {
	h := newHarness(t)
	h.writeAccount(t, "prod", h.account())
	h.configure(t, map[string]any{"allowed_token_endpoint_hosts": "identity.disruptive-technologies.com", "allow_loopback_http": false})
	h.configure(t, map[string]any{"allow_loopback_http": false})
	_, err := h.rotate(t, "prod")
	if codeOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "dt/config") {
		t.Fatalf("rotate with the API URL no longer allowed: %v", err)
	}
	if n := h.srv.KeyRequests(""); n != 0 {
		t.Fatalf("%d key API requests", n)
	}
	h.configure(t, map[string]any{"allow_loopback_http": true, "allowed_api_hosts": []string{}})
	resp, err := h.request(t, logical.ReadOperation, "config", nil)
	if err != nil || len(resp.Data["allowed_api_hosts"].([]string)) != 0 {
		t.Fatalf("config %v, %v", resp, err)
	}
}

// TestAccountReadShowsKeyIDsOnOneLine: the key ids an account read shows
// came from DT's answers: none reaches a reader with a control character.
func TestAccountReadShowsKeyIDsOnOneLine(t *testing.T) {
	h := newHarness(t)
	h.writeAccount(t, "prod", h.account())
	hostile := "k\x1b]0;owned\a\x1b[2J\nx"
	a := h.stored(t, "prod")
	a.Unstored, a.OldKeys = []string{hostile}, []oldKey{{KeyID: hostile}}
	if err := putAccount(context.Background(), h.storage, "prod", a); err != nil {
		t.Fatal(err)
	}
	read, err := h.request(t, logical.ReadOperation, "accounts/prod", nil)
	if err != nil {
		t.Fatal(err)
	}
	if shown := fmt.Sprint(read.Data["unstored_keys"], read.Data["unfinished_rotation"]); strings.ContainsAny(shown, "\x1b\a\n") {
		t.Errorf("the account read shows %q", shown)
	}
}

// TestRotateLostCreateNamesOnlyItsWindow: after a create whose answer was
// lost, a key another machine created on the same service account later
// is not reported as the interrupted rotation's, and the warnings never
// say nobody can use a key.
func TestRotateLostCreateNamesOnlyItsWindow(t *testing.T) {
	h := newHarness(t)
	h.writeAccount(t, "prod", h.account())
	h.srv.InjectKeys(authtest.OpCreateKey, authtest.Fault{Late: true, Drop: true})
	if _, err := h.rotate(t, "prod"); codeOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("rotate with the create's answer lost: %v", err)
	}
	lost := h.keysAtDT()[1]
	h.clock.add(10 * time.Minute)
	h.srv.AddAccount(authtest.Account{KeyID: "other-machine", Email: email, Secret: "other-machine-secret"})
	resp, err := h.rotate(t, "prod") // recovers, then rotates
	if err != nil {
		t.Fatal(err)
	}
	read, _ := h.request(t, logical.ReadOperation, "accounts/prod", nil)
	if got := read.Data["unstored_keys"].([]string); !slices.Equal(got, []string{lost}) {
		t.Errorf("unstored_keys %v, want only %s", got, lost)
	}
	said := strings.Join(resp.Warnings, "\n") + h.logs.String()
	if strings.Contains(said, "other-machine") || strings.Contains(said, "nobody") || !strings.Contains(said, "if no machine of yours uses") {
		t.Errorf("the warnings and log say:\n%s", said)
	}
	if !slices.Contains(h.keysAtDT(), "other-machine") {
		t.Error("the other machine's key went")
	}
}

// TestOldKeyDeletedWhereItWasReplaced: an account writer without the
// secret may rename the service account (project, service_account), but
// that cannot stop a key a rotation replaced from being deleted at DT:
// it is deleted under the service account it was replaced in, and DT's
// "not found" counts as deleted only once a listing confirms it.
func TestOldKeyDeletedWhereItWasReplaced(t *testing.T) {
	// replaced is an account whose rotation could not delete its old key.
	replaced := func(t *testing.T) *harness {
		h := newHarness(t)
		h.writeAccount(t, "prod", h.account())
		h.srv.InjectKeys(authtest.OpDeleteKey, authtest.Fault{Drop: true})
		if _, err := h.rotate(t, "prod"); err == nil {
			t.Fatal("rotate with the delete dropped succeeded")
		}
		if a := h.stored(t, "prod"); !slices.Equal(a.oldKeyIDs(), []string{keyID}) {
			t.Fatalf("old keys %v, want [%s]", a.OldKeys, keyID)
		}
		return h
	}
	t.Run("service account renamed without the secret", func(t *testing.T) {
		h := replaced(t)
		h.writeAccount(t, "prod", map[string]any{"project": "example", "service_account": "nosuchsa"})
		h.periodic(t)
		if got, old := h.keysAtDT(), h.stored(t, "prod").OldKeys; slices.Contains(got, keyID) || len(old) != 0 {
			t.Fatalf("DT has keys %v, the account's old keys are %v: want %s deleted at DT", got, old, keyID)
		}
	})
	t.Run("service account renamed while a new key is staged", func(t *testing.T) {
		h := newHarness(t)
		h.writeAccount(t, "prod", h.account())
		h.readToken(t, "prod")
		h.srv.InjectAlways(authtest.Fault{Status: 503}) // the proof meets DT down
		if _, err := h.rotate(t, "prod"); err == nil || h.stored(t, "prod").Staged == nil {
			t.Fatalf("rotate with DT's token endpoint down after the create: %v", err)
		}
		h.srv.ClearFaults()
		h.writeAccount(t, "prod", map[string]any{"project": "example", "service_account": "nosuchsa"})
		h.periodic(t)
		a := h.stored(t, "prod")
		if got := h.keysAtDT(); a.KeyID == keyID || !slices.Equal(got, []string{a.KeyID}) || len(a.OldKeys) != 0 {
			t.Fatalf("DT has keys %v; the account has key %s, old keys %v: want %s deleted at DT", got, a.KeyID, a.OldKeys, keyID)
		}
	})
	t.Run("not found, still listed", func(t *testing.T) {
		h := replaced(t)
		h.srv.InjectKeys(authtest.OpDeleteKey, authtest.Fault{Status: http.StatusNotFound, Body: `{"error":"not found"}`})
		h.periodic(t)
		if got, old := h.keysAtDT(), h.stored(t, "prod").oldKeyIDs(); !slices.Contains(got, keyID) || !slices.Equal(old, []string{keyID}) {
			t.Fatalf("DT has keys %v, the account's old keys are %v: a 404 for a key DT still lists was taken as deleted", got, old)
		}
		h.clock.add(retryMax)
		h.periodic(t)
		if got, old := h.keysAtDT(), h.stored(t, "prod").OldKeys; slices.Contains(got, keyID) || len(old) != 0 {
			t.Fatalf("DT has keys %v, old keys %v after the next run", got, old)
		}
	})
	t.Run("not found, no longer listed", func(t *testing.T) {
		h := replaced(t)
		h.srv.InjectKeys(authtest.OpDeleteKey, authtest.Fault{Late: true, Status: http.StatusNotFound, Body: `{"error":"not found"}`})
		h.periodic(t)
		if got, old := h.keysAtDT(), h.stored(t, "prod").OldKeys; slices.Contains(got, keyID) || len(old) != 0 {
			t.Fatalf("DT has keys %v, old keys %v: a key gone was not counted as deleted", got, old)
		}
	})
}

// TestOldKeysDecode: old keys are stored with their service account; an
// entry that holds bare key ids (before they were) still reads, each
// deleted under the service account the account names.
func TestOldKeysDecode(t *testing.T) {
	var ks keyState
	if err := json.Unmarshal([]byte(`{"old_keys":["k1",{"key_id":"k2","project":"p","service_account":"s"}]}`), &ks); err != nil {
		t.Fatal(err)
	}
	current := serviceaccount.ID{Project: "now", ServiceAccount: "named"}
	want := []serviceaccount.ID{current, {Project: "p", ServiceAccount: "s"}}
	if len(ks.OldKeys) != 2 || ks.OldKeys[0].KeyID != "k1" || ks.OldKeys[1].KeyID != "k2" {
		t.Fatalf("old keys %+v", ks.OldKeys)
	}
	for i, k := range ks.OldKeys {
		if got := k.or(current); got != want[i] {
			t.Errorf("old key %s is deleted under %s, want %s", k.KeyID, got, want[i])
		}
	}
	b, err := json.Marshal(ks)
	if err != nil || !strings.Contains(string(b), `{"key_id":"k2","project":"p","service_account":"s"}`) {
		t.Errorf("stored as %s, %v", b, err)
	}
}

// TestRotationCodedMisconfig: a rotation failing on the configuration
// (package misconfig's rule: auth's ConfigError, or any error with the
// behaviour) is a 400, as a token read's is (TestClassify).
func TestRotationCodedMisconfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code int
	}{
		{"auth's configuration error", &stepError{"checking the account", &auth.ConfigError{Msg: "bad endpoint"}}, http.StatusBadRequest},
		{"any misconfigured error, wrapped", &stepError{"getting a token", fmt.Errorf("refresh: %w", misconfig.Errorf("missing email"))}, http.StatusBadRequest},
		{"other", &stepError{"creating a key", errors.New("something else")}, http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := rotationCoded("prod", tc.err); codeOf(err) != tc.code {
				t.Errorf("rotationCoded = %v (code %d), want code %d", err, codeOf(err), tc.code)
			}
		})
	}
}

// TestRotateCreateFailingUnansweredKeepsLease: a create that fails with an
// error not DT's (here it gets no token: the account's cached one has
// expired and the token endpoint refuses the key) may have created a key,
// as far as the engine can tell (serviceaccount.MayHaveCreated): the lease
// stays, expired, for the next run to look for the key, which finds none
// and rotates.
func TestRotateCreateFailingUnansweredKeepsLease(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.writeAccount(t, "prod", h.account())
	h.readToken(t, "prod")
	failed := false
	h.interrupt = func(step string) bool {
		if step == stepListed && !failed {
			failed = true
			h.clock.add(authtest.DefaultTokenTTL + time.Minute)
			h.srv.InjectAlways(authtest.ErrorFault(400, "invalid_grant", "no"))
		}
		return false
	}
	b := h.engine(t, h.storage, consts.ReplicationPerformancePrimary)
	_, err := b.rotate(ctx, h.storage, "prod", triggerRequest, true)
	var se *serviceaccount.Error
	if err == nil || errors.As(err, &se) || !failed {
		t.Fatalf("the rotation: %v, want a create failing before DT answered", err)
	}
	if l, err := b.getLease(ctx, h.storage, "prod"); err != nil || l == nil || l.KeysBefore == nil {
		t.Fatalf("the lease after the failed create: %+v, %v; want it kept for the next run", l, err)
	}
	h.srv.ClearFaults()
	if _, err := b.rotate(ctx, h.storage, "prod", triggerRequest, true); err != nil {
		t.Fatalf("the next rotation: %v", err)
	}
	if e, _ := h.storage.Get(ctx, leaseKey("prod")); e != nil {
		t.Error("a lease is left")
	}
	if keys, a := h.keysAtDT(), h.stored(t, "prod"); len(keys) != 1 || keys[0] != a.KeyID || len(a.Unstored) != 0 {
		t.Errorf("DT has keys %v; the account holds %s and reports %v", keys, a.KeyID, a.Unstored)
	}
}
