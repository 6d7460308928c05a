package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/dt-credential-helper/dt-credential-helper/internal/doctor"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/internal/tokens"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// fixCacheDir is the way out of a cache directory that may not be used:
// another directory, never a change to this one, which the program cannot
// know it made and which may be shared or serve other things.
const fixCacheDir = "set DT_CACHE_DIR to a private directory of your own (for example ~/.cache/dt-credential-helper); " +
	"do not change the mode or owner of a directory this program did not create"

// checkCache checks each store the cache mode keeps tokens in, as the
// token command opens them (keyring.CacheDir, the stores of OpenStore),
// and names the one in use.
func (d *doctorRun) checkCache() {
	mode := d.cfg.Cache
	if mode == keyring.ModeNone {
		d.checkSecretService(mode) // profiles' secrets may be there all the same
		d.add("token-cache", "", doctor.Pass, "--cache none: nothing is cached, every call fetches a token", "")
		return
	}
	dirOK := d.checkCacheDir(mode)
	d.checkKernelKeyring(mode)
	d.checkSecretService(mode)
	if !dirOK {
		return // the token command stops at the directory
	}
	loc, err := tokens.OpenLocation(d.cfg)
	if err != nil {
		d.add("token-cache", "", doctor.Fail, oneLine(err), fixCacheDir)
		return
	}
	state, err := describeStore(loc.Store)
	if err != nil {
		d.add("token-cache", "", doctor.Fail, "--cache "+string(mode)+": "+state.String(), "use --cache auto, which falls back to what works here")
		return
	}
	d.add("token-cache", "", doctor.Pass, "--cache "+string(mode)+": tokens are cached in "+state.String(), "")
}

// checkCacheDir checks the cache directory, and what it is looked up
// through, as every token call does (keyring.CacheDir: created when it is
// the default and missing); it reports whether the token command can go
// on past it.
func (d *doctorRun) checkCacheDir(mode keyring.Mode) bool {
	const id = "cache-dir"
	dir, err := keyring.CacheDir(d.cfg.Location())
	switch {
	case err != nil:
		d.add(id, "", doctor.Fail, oneLine(err), fixCacheDir)
		return false
	case dir == "":
		d.add(id, "", doctor.Skip, "no DT_CACHE_DIR, XDG_CACHE_HOME or HOME: tokens go to the keyring only, and refreshes take no lock", "")
		return true
	}
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		status := doctor.Warn
		if mode == keyring.ModeFile {
			status = doctor.Fail
		}
		d.add(id, "", status, dir+": could not be created: every call that falls back to files fetches a new token, and refreshes take no lock", fixCacheDir)
		return true
	}
	d.add(id, "", doctor.Pass, dir+": a private directory of yours, found through directories only you or root can change", "")
	return true
}

// checkSecretService checks the Secret Service (the OS keyring elsewhere)
// when tokens or a profile's secret are kept there: reached over a session
// bus of this user's only (keyring.ErrForeignBus: the environment names
// someone else's bus, a failure whatever the mode, for the environment
// is wrong), answering, unlocked.
func (d *doctorRun) checkSecretService(mode keyring.Mode) {
	const id = "secret-service"
	secrets := d.keyringSecrets()
	uses := mode == keyring.ModeAuto || mode == keyring.ModeKeyring || secrets > 0
	if !uses {
		d.add(id, "", doctor.Skip, "--cache "+string(mode)+" and no profile keeps its secret in the OS keyring: not used", "")
		return
	}
	// Needed, not a fallback: an explicit --cache keyring, or a secret.
	needed := mode == keyring.ModeKeyring || secrets > 0
	_, err := keyring.NewOSStore(d.cfg.KeyringTimeout).Get(probeKey)
	switch {
	case err == nil || errors.Is(err, keyring.ErrNotFound):
		d.add(id, "", doctor.Pass, "the OS keyring answers, over a session bus of this user's", "")
	case errors.Is(err, keyring.ErrForeignBus):
		d.add(id, "", doctor.Fail, oneLine(err),
			"DBUS_SESSION_BUS_ADDRESS names a bus that is not yours (it outlived your session, and another user may serve it now): "+
				"unset it, or start a session bus of your own (log in again, or run under dbus-run-session)")
	case errors.Is(err, keyring.ErrNoSession) && !needed:
		d.add(id, "", doctor.Skip, oneLine(err)+": under --cache auto, tokens go to the kernel keyring or files", "")
	case needed:
		d.add(id, "", doctor.Fail, oneLine(err), d.keyringFix(mode, secrets))
	default:
		d.add(id, "", doctor.Warn, oneLine(err)+": under --cache auto, tokens go to the kernel keyring or files",
			"unlock the keyring (a desktop login does) to cache tokens there; files work too")
	}
}

// keyringFix is the fix for an OS keyring that is needed and does not work.
func (d *doctorRun) keyringFix(mode keyring.Mode, secrets int) string {
	fix := "unlock the keyring (a desktop login does), or start a session bus with a Secret Service (dbus-run-session, gnome-keyring)"
	if mode == keyring.ModeKeyring {
		fix += "; or use --cache auto, which falls back to the kernel keyring or files"
	}
	if secrets > 0 {
		verb := "keep"
		if secrets == 1 {
			verb = "keeps"
		}
		fix += fmt.Sprintf("; %d %s %s the secret there: on a machine without a keyring, log in again with --store file",
			secrets, doctor.Plural(secrets, "profile"), verb)
	}
	return fix
}

// keyringSecrets counts the DT profiles whose secret is kept in the OS
// keyring.
func (d *doctorRun) keyringSecrets() int {
	n := 0
	for _, a := range d.accounts {
		if a.name != "" && a.err == nil && a.acct.Vault == nil && a.secretIn == profile.SecretInKeyring {
			n++
		}
	}
	return n
}
