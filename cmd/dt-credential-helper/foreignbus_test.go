package main

import (
	"strings"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/keyring/keyringtest"
)

// TestForeignSessionBus: DBUS_SESSION_BUS_ADDRESS names a bus that another
// user (uid 65534) now serves, with a real dbus-daemon and an unlocked
// gnome-keyring of their own, as a stale address left in a tmux or ssh
// shell can once the bus it named has exited. Neither the DT secret of a
// login nor a cached token may end up in that keyring: the bus counts as no
// bus, and the messages say whose it is. The DT identity service is the
// emulator (auth/authtest).
func TestForeignSessionBus(t *testing.T) {
	foreign := keyringtest.StartForeignBus(t)
	addrs := []struct{ name, addr string }{
		{"path", foreign.PathAddr},
		{"abstract", foreign.AbstractAddr},
	}
	ours := func(t *testing.T) {
		t.Helper()
		if n := foreign.Items(t, "service", keyring.Service); n != 0 {
			t.Fatalf("the other user's keyring holds %d items of ours", n)
		}
	}
	for _, a := range addrs {
		t.Run("login/"+a.name, func(t *testing.T) {
			f := newLoginFixture(t)
			env := withEnv(f.env, "DBUS_SESSION_BUS_ADDRESS="+a.addr)
			r := runFor(t, runLimit, env, testSecret+"\n", f.loginArgs(f.profile)...)
			if r.code == 0 {
				t.Errorf("login exited 0 with the other user's bus: stderr %q", r.stderr)
			}
			oneStderrLine(t, r.stderr, "no OS keyring is available", "nothing was stored", "uid 65534")
			ours(t)
		})

		t.Run("cache keyring/"+a.name, func(t *testing.T) {
			f := newCacheFixture(t)
			env := withEnv(f.env, "DBUS_SESSION_BUS_ADDRESS="+a.addr)
			r := runFor(t, runLimit, env, "", "token", "-o", "token")
			if r.code != 1 || r.stdout != "" {
				t.Errorf("token --cache keyring: exit %d, stdout %q; want 1 and no token", r.code, r.stdout)
			}
			oneStderrLine(t, r.stderr, "keyring unavailable", "uid 65534")
			ours(t)
		})

		t.Run("cache auto/"+a.name, func(t *testing.T) {
			srv := authtest.NewServer(testAccount)
			defer srv.Close()
			// The kernel keyring refused, as in a container, so that auto
			// reaches the Secret Service.
			env := withEnv(baseEnv(t, srv.TokenURL()), "DT_TOKEN_CACHE=auto", "DBUS_SESSION_BUS_ADDRESS="+a.addr, keyringtest.DenyKeyctlEnv)
			r := runFor(t, runLimit, env, "", "token", "-o", "token", "--verbose")
			if tok := strings.TrimSuffix(r.stdout, "\n"); r.code != 0 || !srv.Valid(tok) {
				t.Fatalf("token --cache auto: exit %d, stdout %q, stderr %q; want a valid token", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, "uid 65534") {
				t.Errorf("--verbose does not say why the keyring was not used:\n%s", r.stderr)
			}
			key := keyring.Key(srv.TokenURL(), testAccount.KeyID, testAccount.Email)
			if _, err := keyring.NewFileStore(envValue(env, "DT_CACHE_DIR")).Get(key); err != nil {
				t.Errorf("the token is not in the file cache: %v", err)
			}
			st := runFor(t, runLimit, env, "", "status")
			if !strings.Contains(st.stdout, "uid 65534") {
				t.Errorf("status does not say why it uses files:\n%s", st.stdout)
			}
			ours(t)
		})
	}
}
