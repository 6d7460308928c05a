//go:build unix

package vaultproc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/internal/misconfig"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// child writes a shell script standing in for the child program.
func child(t *testing.T, script string) func() (string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "child")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return func() (string, error) { return path, nil }
}

func read(t *testing.T, script string, environ ...string) error {
	t.Helper()
	src, err := NewSource(Config{Vault: vaultenv.Reference{Path: "dt/token/prod"}, Program: child(t, script), Environ: environ})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = src.TokenContext(ctx)
	return err
}

// TestReplyKinds: each kind the child reports comes back as that kind;
// only transient says Temporary and only misconfigured says Misconfigured
// (read as package misconfig reads it); an unknown kind is other.
func TestReplyKinds(t *testing.T) {
	for _, k := range []Kind{Misconfigured, Permission, Transient, Other, "novel"} {
		err := read(t, `echo '{"error":{"message":"vault: it failed","kind":"`+string(k)+`"}}'`)
		var e *Error
		want := k
		if k == "novel" {
			want = Other
		}
		if !errors.As(err, &e) || e.Kind != want || e.Error() != "vault: it failed" || e.Temporary() != (k == Transient) || misconfig.Is(err) != (k == Misconfigured) {
			t.Errorf("kind %s: got %#v", k, err)
		}
	}
}

// TestUnusableReplies: what is not a reply is an error that quotes none of
// it (it may be part of a token).
func TestUnusableReplies(t *testing.T) {
	for name, script := range map[string]string{
		"garbage":   `echo 'tok-Zq81 is not json'`,
		"nothing":   `exit 3`,
		"no expiry": `echo '{"access_token":"tok-Zq81"}'`,
		"too long":  `head -c 400000 /dev/zero | tr '\0' a; echo tok-Zq81`,
		"no token":  `echo '{"expires_at":"2030-01-01T00:00:00Z"}'`,
	} {
		err := read(t, script)
		var e *Error
		if !errors.As(err, &e) || e.Kind != Other || strings.Contains(err.Error(), "tok-Zq81") || strings.Count(err.Error(), "\n") != 0 {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

// TestDeadline: a child that does not answer in time is killed, and that
// is transient.
func TestDeadline(t *testing.T) {
	src, err := NewSource(Config{Vault: vaultenv.Reference{Path: "dt/token/prod"}, Program: child(t, "exec sleep 30"), Environ: []string{"VAULT_ADDR=https://vault.example:8200"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = src.TokenContext(ctx)
	var e *Error
	if !errors.As(err, &e) || !e.Temporary() || !strings.Contains(err.Error(), "vault: reading dt/token/prod at https://vault.example:8200: no answer within the deadline") {
		t.Errorf("got %v, want a transient deadline error", err)
	}
}

// TestChildEnvironment: the reference goes in the environment, over
// whatever DT_VAULT_* the caller had, the DT secret does not, and the
// command line is the subcommand alone.
func TestChildEnvironment(t *testing.T) {
	out := filepath.Join(t.TempDir(), "seen")
	src, err := NewSource(Config{
		Vault:   vaultenv.Reference{Path: "dt/token/prod", Role: "fleet", JWTFile: "/jwt"},
		Program: child(t, `{ echo "$@"; env; } > `+out+`; echo '{"access_token":"tok","expires_at":"2030-01-01T00:00:00Z"}'`),
		Environ: []string{"VAULT_ADDR=https://vault", "DT_VAULT_PATH=dt/token/other", "DT_VAULT_AUTH_MOUNT=k8s", "DT_SERVICE_ACCOUNT_SECRET=s3cret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := src.TokenContext(context.Background())
	if err != nil || tok.AccessToken != "tok" || !tok.Expiry.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("got %v, %v", tok, err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	if lines[0] != Subcommand {
		t.Errorf("arguments %q, want %q", lines[0], Subcommand)
	}
	for _, want := range []string{"VAULT_ADDR=https://vault", "DT_VAULT_PATH=dt/token/prod", "DT_VAULT_ROLE=fleet", "DT_VAULT_JWT_FILE=/jwt"} {
		if !slices.Contains(lines, want) {
			t.Errorf("the child's environment lacks %s", want)
		}
	}
	for _, bad := range []string{"s3cret", "dt/token/other", "DT_VAULT_AUTH_MOUNT"} {
		if strings.Contains(string(data), bad) {
			t.Errorf("the child's environment holds %s", bad)
		}
	}
}

// TestReferenceChecked: the references Vault's client refuses are refused before a
// child runs, as misconfigured.
func TestReferenceChecked(t *testing.T) {
	for _, v := range []vaultenv.Reference{{}, {Path: "/v1/dt/token/x"}, {Path: "dt/token/x", Role: "r"}, {Path: "dt/token/x", JWTFile: "/j"}} {
		_, err := NewSource(Config{Vault: v})
		var e *Error
		if !errors.As(err, &e) || e.Kind != Misconfigured {
			t.Errorf("%+v: got %v, want misconfigured", v, err)
		}
	}
}

// TestEnvironmentRefusedBeforeTheChild: an address or proxy the child
// would refuse is refused here, as misconfigured, without starting it.
func TestEnvironmentRefusedBeforeTheChild(t *testing.T) {
	ran := filepath.Join(t.TempDir(), "ran")
	for _, environ := range [][]string{
		{"VAULT_ADDR=https://vault.example:8200", "VAULT_AGENT_ADDR=http://10.1.2.3:8100"},
		{"VAULT_ADDR=http://127.0.0.1:8200", "VAULT_PROXY_ADDR=http://proxy.example:3128"},
	} {
		err := read(t, "touch "+ran, environ...)
		var e *Error
		if !errors.As(err, &e) || e.Kind != Misconfigured || !strings.Contains(err.Error(), "clear text") {
			t.Errorf("%v: got %v, want misconfigured", environ, err)
		}
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("the child ran")
	}
}

// TestWaitingToldOfEachRead: Config.Waiting hears of each read, naming the
// Vault and the path, under the read's context, and its done is called when
// the child has answered.
func TestWaitingToldOfEachRead(t *testing.T) {
	var told []string
	ended := 0
	src, err := NewSource(Config{
		Vault:   vaultenv.Reference{Path: "dt/token/prod"},
		Program: child(t, `echo '{"access_token":"tok","expires_at":"2030-01-01T00:00:00Z"}'`),
		Environ: []string{"VAULT_ADDR=https://vault.example:8200"},
		Waiting: func(ctx context.Context, what string) func() {
			told = append(told, what)
			return func() { ended++ }
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.TokenContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(told) != 1 || !strings.Contains(told[0], "https://vault.example:8200") || !strings.Contains(told[0], "dt/token/prod") || ended != 1 {
		t.Errorf("Waiting told %q, done called %d times; want the Vault and the path once, ended once", told, ended)
	}
}
