#!/usr/bin/env bash
# The main job, end to end, against a local DT identity emulator (no real DT
# account needed): build, start the emulator on a free loopback port, fetch a
# token, fetch it again from the cache, and print it as kubectl reads it.
#
#   scripts/demo.sh [--cache file|kernel]   (default file)
#
# It runs in a private environment whatever the shell holds (see
# private-env.sh): a HOME and XDG directories of its own, and none of your
# DT_*, VAULT_* or proxy settings, so it never reads your profiles, secrets or
# caches and never sends anything to an endpoint or proxy they name.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

cache=file
case "${1:-}" in
"") ;;
--cache)
	cache=${2:?--cache needs a store: file or kernel}
	;;
*)
	echo "usage: scripts/demo.sh [--cache file|kernel]" >&2
	exit 2
	;;
esac

work=$(mktemp -d)
emu_pid=
cleanup() {
	# The kernel keyring is your user keyring, shared by all your
	# processes: the demo's token is removed from it, not left to expire.
	if [ "$cache" = kernel ] && [ -x "$work/bin/dt-credential-helper" ] && [ -n "${DT_TOKEN_ENDPOINT:-}" ]; then
		# git's erase drops the cached token it names (on stdin, not argv).
		tok=$("$work/bin/dt-credential-helper" token -o token 2>/dev/null) &&
			printf 'protocol=https\nhost=api.disruptive-technologies.com\npassword=%s\n\n' "$tok" |
			"$work/bin/dt-credential-helper" git erase || true
	fi
	[ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "== building"
# With your Go settings (a module download may need your proxy); nothing
# after this does.
CGO_ENABLED=0 go build -trimpath -o "$work/bin/" ./cmd/dt-credential-helper ./cmd/dt-identity-emulator

. scripts/private-env.sh
private_env "$work/env"

# A demo service account. The emulator takes secrets on its command line only
# because it is a local test tool; dt-credential-helper never does.
demo_secret="demo-secret-$RANDOM$RANDOM"
mkfifo "$work/emu.out"
"$work/bin/dt-identity-emulator" --listen 127.0.0.1:0 \
	--account "demo-key:demo@project.serviceaccount.d21s.com:$demo_secret" \
	>"$work/emu.out" 2>"$work/emu.log" &
emu_pid=$!
read -r token_url <"$work/emu.out"
echo "== emulator listening at $token_url"

export DT_SERVICE_ACCOUNT_KEY_ID=demo-key
export DT_SERVICE_ACCOUNT_EMAIL=demo@project.serviceaccount.d21s.com
export DT_SERVICE_ACCOUNT_SECRET="$demo_secret"
export DT_TOKEN_ENDPOINT="$token_url"
export DT_CACHE_DIR="$work/cache"
export DT_TOKEN_CACHE="$cache"

echo "== dt-credential-helper token (fetches a token)"
"$work/bin/dt-credential-helper" token
echo "== again (served from the $DT_TOKEN_CACHE cache, no request)"
"$work/bin/dt-credential-helper" token --verbose
echo "== as kubectl's exec plugin reads it"
KUBERNETES_EXEC_INFO='{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}' \
	"$work/bin/dt-credential-helper" token
echo "== status"
"$work/bin/dt-credential-helper" status
