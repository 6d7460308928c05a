//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil/baotest"
)

// The rotation tests against OpenBao. The DT identity service and its key
// API are the emulator's (auth/authtest), in this process: DT cannot be
// reached from here.

// secretsSeen collects the secrets of every key the emulator has had, to
// look for them where none may be.
type secretsSeen struct {
	dt  *authtest.Server
	all []string
}

// note records the secrets of email's keys the emulator has now.
func (s *secretsSeen) note(email string) {
	for _, k := range s.dt.KeysOf(email) {
		if !slices.Contains(s.all, k.Secret) {
			s.all = append(s.all, k.Secret)
		}
	}
}

// check fails t if a secret seen is in the file at path.
func (s *secretsSeen) check(t *testing.T, what, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, secret := range s.all {
		if strings.Contains(string(b), secret) {
			t.Errorf("%s holds secret %d of %d", what, i+1, len(s.all))
		}
	}
}

// refused reports whether DT refuses the key keyID of email with secret.
func refused(dt *authtest.Server, keyID, email, secret string) bool {
	src, err := auth.NewSource(auth.Credentials{KeyID: keyID, Email: email, Secret: secret, TokenEndpoint: dt.TokenURL()},
		auth.WithRetries(0, 0, 0))
	if err != nil {
		return false
	}
	_, err = src.TokenContext(context.Background())
	return auth.IsRejected(err)
}

// TestPeriodicRotationInOpenBao: an account written with a rotation_period
// is rotated by Vault's periodic function, on its own. OpenBao's rollback
// manager calls it every minute (vault/core.go, RollbackPeriod: a minute,
// settable only in the server's Go code, not by its configuration, flags
// or environment), first a minute after the server started; so the test
// writes the account, then waits in parallel with the other tests of this
// package (its file sorts first so that it starts first), and checks.
func TestPeriodicRotationInOpenBao(t *testing.T) {
	srv := baotest.Start(t, baotest.Options{})
	const cronEmail = "cron@example.serviceaccount.d21s.com"
	const cronKey, cronSecret = "key-cron-e2e", "cron-e2e-secret-never-in-plain-text"
	dt := authtest.NewServer(authtest.Account{KeyID: cronKey, Email: cronEmail, Secret: cronSecret})
	t.Cleanup(dt.Close)
	srv.CLI(t, cronSecret, "write", "dt/accounts/cron", "key_id="+cronKey, "email="+cronEmail,
		"token_endpoint="+dt.URL+authtest.TokenPath, "api_url="+dt.URL+"/v2", "rotation_period=10s", "secret=-")
	started := time.Now()
	t.Parallel()

	var data map[string]any
	for deadline := started.Add(3 * time.Minute); ; time.Sleep(time.Second) {
		data = readJSON(t, srv, "dt/accounts/cron")
		if data["key_id"] != cronKey || time.Now().After(deadline) {
			break
		}
	}
	if data["key_id"] == cronKey {
		t.Fatalf("the account was not rotated within 3 minutes: %v", data)
	}
	t.Logf("rotated by the periodic function %v after the account was written", time.Since(started).Round(time.Second))
	newKey := data["key_id"].(string)
	if data["last_rotation_result"] != "ok" || data["rotation_period"] != float64(10) || data["key_created"] == "" {
		t.Errorf("account read after the periodic rotation: %v", data)
	}
	if keys := dt.KeysOf(cronEmail); len(keys) != 1 || keys[0].KeyID != newKey {
		t.Errorf("DT has %d keys of the account, want the new one only", len(keys))
	}
	if !refused(dt, cronKey, cronEmail, cronSecret) {
		t.Error("DT still takes the old key")
	}
	tok, _ := readJSON(t, srv, "dt/token/cron")["access_token"].(string)
	if info, ok := dt.Token(tok); !ok || info.KeyID != newKey {
		t.Errorf("the token read is not of the new key (%v)", ok)
	}
	seen := &secretsSeen{dt: dt, all: []string{cronSecret}}
	seen.note(cronEmail)
	seen.check(t, "the server's log", srv.Log)
	seen.check(t, "the audit log", srv.AuditLog)
	if log, _ := os.ReadFile(srv.Log); !strings.Contains(string(log), "trigger=periodic") {
		t.Error("the server's log does not record the periodic rotation")
	}
}

// TestRotateInOpenBao: `bao write -f dt/accounts/prod/rotate` replaces the
// key; token reads keep working during the rotation (20 readers, all
// served) and after; DT refuses the old key; no secret appears in any
// answer, the audit log or the server's log.
func TestRotateInOpenBao(t *testing.T) {
	srv := baotest.Start(t, baotest.Options{})
	dt := authtest.NewServer(authtest.Account{KeyID: keyID, Email: email, Secret: secret})
	t.Cleanup(dt.Close)
	seen := &secretsSeen{dt: dt, all: []string{secret}}
	srv.CLI(t, secret, "write", "dt/accounts/prod", "key_id="+keyID, "email="+email,
		"token_endpoint="+dt.URL+authtest.TokenPath, "api_url="+dt.URL+"/v2", "secret=-")
	before := readJSON(t, srv, "dt/token/prod")["access_token"].(string)
	var outputs []string
	// From here DT's tokens last 4 s (due after 2 s): the token each
	// rotation obtains for the new key too, so that the readers below
	// refresh during the next rotation.
	dt.SetTokenTTL(4 * time.Second)

	t.Run("write -f dt/accounts/prod/rotate", func(t *testing.T) {
		out := srv.CLI(t, "", "write", "-f", "-format=json", "dt/accounts/prod/rotate")
		outputs = append(outputs, out)
		var resp struct{ Data map[string]any }
		if err := json.Unmarshal([]byte(out), &resp); err != nil {
			t.Fatal(err)
		}
		seen.note(email)
		newKey, _ := resp.Data["key_id"].(string)
		if newKey == "" || newKey == keyID || resp.Data["old_key_id"] != keyID || resp.Data["old_key_deleted"] != true {
			t.Fatalf("rotate answered %v", resp.Data)
		}
		if !refused(dt, keyID, email, secret) {
			t.Error("DT still takes the old key")
		}
		after := readJSON(t, srv, "dt/token/prod")["access_token"].(string)
		if info, ok := dt.Token(after); !ok || info.KeyID != newKey || after == before {
			t.Errorf("the token read after the rotation: of the new key %v, a new token %v", ok && info.KeyID == newKey, after != before)
		}
		if !dt.Valid(before) {
			t.Error("the token read before the rotation is no longer valid (DT's tokens outlive their key)")
		}
		read := srv.CLI(t, "", "read", "-format=json", "dt/accounts/prod")
		outputs = append(outputs, read)
		for _, want := range []string{`"key_id": "` + newKey + `"`, `"last_rotation_result": "ok"`, `"key_created": "20`} {
			if !strings.Contains(read, want) {
				t.Errorf("account read lacks %s:\n%s", want, read)
			}
		}
	})

	t.Run("20 concurrent token reads during a rotation all succeed", func(t *testing.T) {
		// Each key API answer takes a second: the readers' 4 s tokens
		// are refreshed during the rotation.
		defer dt.SetTokenTTL(authtest.DefaultTokenTTL)
		for _, op := range []string{authtest.OpListKeys, authtest.OpCreateKey, authtest.OpDeleteKey} {
			dt.InjectKeys(op, authtest.Fault{Delay: time.Second})
		}
		client := rootClient(t, srv)
		stop := make(chan struct{})
		var mu sync.Mutex
		var failures []error
		var reads int
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				for {
					s, err := client.Logical().Read("dt/token/prod")
					if err == nil && (s == nil || s.Data["access_token"] == nil) {
						err = fmt.Errorf("no token in the answer")
					}
					mu.Lock()
					reads++
					if err != nil {
						failures = append(failures, err)
					}
					mu.Unlock()
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
				}
			})
		}
		requests := dt.Requests()
		time.Sleep(300 * time.Millisecond)
		out := srv.CLI(t, "", "write", "-f", "-format=json", "dt/accounts/prod/rotate")
		close(stop)
		wg.Wait()
		outputs = append(outputs, out)
		seen.note(email)
		if len(failures) > 0 {
			t.Fatalf("%d of %d reads failed, the first: %v", len(failures), reads, failures[0])
		}
		if dt.Requests()-requests < 2 {
			t.Errorf("%d DT token requests during the rotation: the readers' token was not refreshed", dt.Requests()-requests)
		}
		t.Logf("%d reads during the rotation, all served; %d DT token requests", reads, dt.Requests()-requests)
		if keys := dt.KeysOf(email); len(keys) != 1 {
			t.Errorf("DT has %d keys of the account, want 1", len(keys))
		}
	})

	t.Run("a service account without the right: 400, nothing changed", func(t *testing.T) {
		key := readJSON(t, srv, "dt/accounts/prod")["key_id"]
		dt.SetKeyRight(email, false)
		defer dt.SetKeyRight(email, true)
		out, errs, err := srv.Run(context.Background(), "", "", "write", "-f", "dt/accounts/prod/rotate")
		outputs = append(outputs, out+errs)
		if err == nil || !strings.Contains(errs, "Code: 400") || !strings.Contains(errs, "lacks the right") {
			t.Fatalf("rotate without the right: %v\n%s%s", err, out, errs)
		}
		if got := readJSON(t, srv, "dt/accounts/prod")["key_id"]; got != key || len(dt.KeysOf(email)) != 1 {
			t.Fatalf("the account's key %v (was %v), %d keys at DT", got, key, len(dt.KeysOf(email)))
		}
		readJSON(t, srv, "dt/token/prod")
	})

	t.Run("no secret in an answer, the audit log or the server's log", func(t *testing.T) {
		if len(seen.all) != 3 {
			t.Fatalf("%d secrets seen, want the written one and two rotations'", len(seen.all))
		}
		for i, out := range outputs {
			for _, s := range seen.all {
				if strings.Contains(out, s) {
					t.Errorf("answer %d holds a secret", i)
				}
			}
		}
		seen.check(t, "the server's log", srv.Log)
		seen.check(t, "the audit log", srv.AuditLog)
		if audit, _ := os.ReadFile(srv.AuditLog); !strings.Contains(string(audit), "dt/accounts/prod/rotate") {
			t.Error("the audit log did not record the rotations")
		}
		if log, _ := os.ReadFile(srv.Log); !strings.Contains(string(log), "rotation done") {
			t.Error("the server's log does not record the rotations")
		}
	})
}
