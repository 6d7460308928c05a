#!/usr/bin/env bash
# The main job, end to end, against a local DT identity emulator (no real DT
# account needed): build, start the emulator on a free loopback port, fetch a
# token, fetch it again from the cache, and print it as kubectl reads it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

work=$(mktemp -d)
emu_pid=
cleanup() {
	[ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "== building"
CGO_ENABLED=0 go build -trimpath -o "$work/bin/" ./cmd/dt-credential-helper ./cmd/dt-identity-emulator

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
export DT_TOKEN_CACHE="${DT_TOKEN_CACHE:-file}"

echo "== dt-credential-helper token (fetches a token)"
"$work/bin/dt-credential-helper" token
echo "== again (served from the $DT_TOKEN_CACHE cache, no request)"
"$work/bin/dt-credential-helper" token --verbose
echo "== as kubectl's exec plugin reads it"
KUBERNETES_EXEC_INFO='{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}' \
	"$work/bin/dt-credential-helper" token
echo "== status"
"$work/bin/dt-credential-helper" status
