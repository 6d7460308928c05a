package main

import (
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// TestVerboseMissSaysReadAndWrite: under --verbose, a miss says once which
// stores were read and which the new token will be written to. On a
// machine with the kernel keyring and no D-Bus session (SSH, CI), the
// kernel keyring and then the files are read (the Secret Service between
// them is not there, and why is said once, where it matters), and the
// token goes to the kernel keyring: not a "falling back ... store=file"
// followed by "cache miss store=kernel", nor the miss said again after the
// lock. The real kernel keyring with a key no other test uses, and the
// real binary; the emulator stands in for DT's identity service.
func TestVerboseMissSaysReadAndWrite(t *testing.T) {
	needKernelKeyring(t)
	noSystemdUserBus(t)
	keyID := uniqueName("verbose-")
	srv := authtest.NewServer(authtest.Account{KeyID: keyID, Email: testAccount.Email, Secret: testSecret})
	defer srv.Close()
	t.Cleanup(func() { keyring.NewKernelStore().Delete(keyring.Key(srv.TokenURL(), keyID, testAccount.Email)) })
	env := withoutEnv(withEnv(baseEnv(t, srv.TokenURL()), "DT_SERVICE_ACCOUNT_KEY_ID="+keyID, "XDG_RUNTIME_DIR="+t.TempDir()),
		"DT_TOKEN_CACHE", "DBUS_SESSION_BUS_ADDRESS")

	r := runFor(t, runLimit, env, "", "token", "-o", "token", "--verbose")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var miss []string
	for line := range strings.Lines(r.stderr) {
		if strings.Contains(line, "miss") {
			miss = append(miss, line)
		}
		if strings.Contains(line, "falling back") {
			t.Errorf("a line of its own about falling back: %q", line)
		}
	}
	if len(miss) != 1 {
		t.Fatalf("%d lines about the miss, want one:\n%s", len(miss), r.stderr)
	}
	for _, want := range []string{`read="kernel, then file (keyring unavailable`, "DBUS_SESSION_BUS_ADDRESS is not set", "write=kernel"} {
		if !strings.Contains(miss[0], want) {
			t.Errorf("the miss line %q does not say %q", miss[0], want)
		}
	}
	if !strings.Contains(r.stderr, `msg="token cached" store=kernel`) {
		t.Errorf("the token was not said to be written to the kernel keyring:\n%s", r.stderr)
	}
}
