#!/usr/bin/env bash
# Measures the cost of a dt-credential-helper call as users pay it, one
# process per call, against a hello-world Go binary built the same way, and
# counts the token requests of cached and concurrent cold calls. Runs inside a
# private D-Bus session with gnome-keyring so the keyring store is measured
# too. Usage: scripts/bench.sh [RUNS]   (default 200 calls per mode)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

runs="${1:-200}"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
# Built as scripts/install.sh builds the release binary.
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/" ./cmd/dt-credential-helper ./scripts/bench/hello
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -tags noplugin -o "$bin/noplugin/" ./cmd/dt-credential-helper
if [ ! -x /usr/bin/time ]; then
	if [ "$(id -u)" = 0 ]; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends time >/dev/null
	else
		echo "bench: /usr/bin/time is missing: apt-get install time" >&2
		exit 1
	fi
fi
go build -o "$bin/bench" ./scripts/bench

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(go version | cut -d' ' -f3)"
bash scripts/keyring-session.sh "$bin/bench" -bin "$bin" -runs "$runs"
