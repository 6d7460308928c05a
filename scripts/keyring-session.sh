#!/usr/bin/env bash
# keyring-session.sh CMD ARGS... runs CMD inside a fresh, private D-Bus session
# that has an unlocked gnome-keyring Secret Service, without any prompt, so
# the keyring tests can run against the real thing on a headless machine:
#
#   bash scripts/keyring-session.sh go test -race ./keyring/
#
# CMD runs in a private environment (private-env.sh): a temporary HOME and
# XDG directories, removed afterwards, which hold the keyring too, and none
# of the user's DT_*, VAULT_*, proxy or other settings; so the user's own
# keyring, profiles and caches are never touched. Go's caches stay where
# they are; a module download would go without your proxy, so on a fresh
# clone behind one, run `go mod download` first (scripts/test.sh does). CMD
# sees DT_TEST_SECRET_SERVICE=1, which the tests take as "a real Secret
# Service is here". Missing packages (dbus, dbus-daemon, dbus-bin,
# gnome-keyring, libsecret-tools, keyutils) are installed with apt-get when
# run as root on Debian/Ubuntu. Quiet on success; CMD's exit status is the
# script's.
set -euo pipefail

die() { echo "keyring-session.sh: $*" >&2; exit 1; }

[ $# -gt 0 ] || die "usage: keyring-session.sh CMD [ARGS...]"

need=()
command -v dbus-run-session >/dev/null || need+=(dbus dbus-daemon)
command -v dbus-send >/dev/null || need+=(dbus-bin)
command -v gnome-keyring-daemon >/dev/null || need+=(gnome-keyring)
command -v secret-tool >/dev/null || need+=(libsecret-tools)
command -v keyctl >/dev/null || need+=(keyutils)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
		die "missing ${need[*]}: install them (Debian: apt-get install ${need[*]})"
	fi
	log=$(mktemp)
	if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"; } >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		die "could not install ${need[*]}"
	fi
	rm -f "$log"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keyring-session.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/private-env.sh"
private_env "$tmp"

# A bus of our own, with no service directories: nothing on it can be
# activated, so a client that calls org.freedesktop.secrets too early gets an
# error instead of a second, locked gnome-keyring (or a prompter that needs a
# display). The socket lives in the temporary directory.
cat >"$tmp/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:dir=$XDG_RUNTIME_DIR</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
# dbus-daemon complains on stderr about things that do not matter here (fd
# limits as root); keep that in a log shown only on failure.
cat >"$tmp/dbus-daemon" <<WRAP
#!/bin/sh
exec dbus-daemon "\$@" 2>>"$tmp/dbus.log"
WRAP
chmod +x "$tmp/dbus-daemon"

# The inner script runs inside the private bus. gnome-keyring-daemon --unlock
# reads the login keyring's password from stdin and creates the keyring if
# there is none; an empty password creates nothing (then every write would
# ask a prompter), so a throwaway one is used for the throwaway keyring.
inner='
set -euo pipefail
fail() { cat "$KS_TMP/gkd.err" "$KS_TMP/dbus.log" >&2 2>/dev/null || true; echo "keyring-session.sh: $*" >&2; exit 1; }
printf %s dt-test-keyring | gnome-keyring-daemon --unlock --components=secrets >"$KS_TMP/gkd.out" 2>"$KS_TMP/gkd.err" ||
	fail "gnome-keyring-daemon --unlock failed"
# The daemon forks before it owns org.freedesktop.secrets and before the
# login collection exists; wait (bounded, 10s) until it answers for it
# unlocked, so CMD never races it.
for _ in $(seq 1 100); do
	if dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets/collection/login \
		org.freedesktop.DBus.Properties.Get string:org.freedesktop.Secret.Collection string:Locked 2>/dev/null |
		grep -q "boolean false"; then
		ready=1
		break
	fi
	sleep 0.1
done
[ -n "${ready:-}" ] || fail "no unlocked login collection on org.freedesktop.secrets within 10s"
unset KS_TMP
exec "$@"
'

export KS_TMP="$tmp"
export DT_TEST_SECRET_SERVICE=1
# dbus-run-session gives CMD the private bus's address. Not exec'd: the trap
# cleans up.
dbus-run-session --config-file="$tmp/bus.conf" --dbus-daemon="$tmp/dbus-daemon" -- bash -c "$inner" keyring-session "$@"
