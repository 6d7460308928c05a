#!/usr/bin/env bash
# Measures the cost of a dt-credential-helper call as users pay it, one
# process per call, next to peer credential helpers answering from their own
# caches, all against a hello-world Go binary built the same way and measured
# in the same run; counts the token requests of cached and concurrent cold
# calls, and checks that every cached row answers with no network; times
# calls during an outage of the token endpoint and counts the requests a
# crowd of processes makes then; and times the Vault engine's token reads
# beside kv-v2 reads of the same OpenBao server (when there is one). Runs
# inside a private D-Bus session with gnome-keyring, so the Secret Service
# rows are measured too. Writes the results into docs/performance.md.
#
#   scripts/bench.sh [--no-doc] [RUNS]   (default 200 calls per row)
#
# --no-doc prints the results without touching docs/performance.md. Exits
# non-zero when a request count is wrong or a cached row needed the network;
# the ratios are reported, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

write_doc=1
if [ "${1:-}" = "--no-doc" ]; then
	write_doc=
	shift
fi
runs="${1:-200}"
case $runs in
'' | *[!0-9]*) echo "usage: scripts/bench.sh [--no-doc] [RUNS]" >&2; exit 2 ;;
esac

bin=$(mktemp -d)
results=$(mktemp)
trap 'rm -rf "$bin" "$results"' EXIT
# Ours and the floors, built as scripts/install.sh builds the release
# binaries, the plugin's program next to the helper as installed.
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/" ./cmd/dt-credential-helper ./cmd/dt-credential-helper-plugin \
	./cmd/vault-plugin-secrets-dt ./scripts/bench/hello ./scripts/bench/hello-stdin ./scripts/bench/gokeyring
# The OpenBao server the Vault engine's reads are measured in: DT_TEST_BAO,
# else the one ../shared/tools/openbao/build.sh builds (once), else none.
bao=${DT_TEST_BAO:-}
shared_bao=$(cd .. && pwd)/shared/tools/openbao/build.sh
if [ -z "$bao" ] && [ -f "$shared_bao" ]; then
	bao=$(bash "$shared_bao")
fi
if [ ! -x /usr/bin/time ]; then
	if [ "$(id -u)" = 0 ]; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends time >/dev/null
	else
		echo "bench: /usr/bin/time is missing: apt-get install time" >&2
		exit 1
	fi
fi
go build -o "$bin/bench" ./scripts/bench

# The peers, at the versions scripts/bench/peers pins, built outside the
# repository once per pin and Go version.
peers_src=scripts/bench/peers
peers="${XDG_CACHE_HOME:-$HOME/.cache}/dt-bench-peers/$(cat "$peers_src/go.mod" "$peers_src/go.sum" "$peers_src/build.sh" | sha256sum | cut -c1-12)-$(go env GOVERSION)"
bash "$peers_src/build.sh" "$peers"

pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
commit=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
[ -n "$(git status --porcelain 2>/dev/null)" ] && commit="$commit (with uncommitted changes)"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')

bash scripts/keyring-session.sh "$bin/bench" -bin "$bin" -peers "$peers" -runs "$runs" -bao "$bao" | tee "$results"

machine="Run of $started, \`scripts/bench.sh $runs\` at $commit. Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r), $(go env GOVERSION). Load average (1, 5, 15 min) before the run: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg). Peers: $(git --version | sed 's/ version / /'), libsecret-tools $(pkgver libsecret-tools), gnome-keyring $(pkgver gnome-keyring), $(awk '($1 == "github.com/int128/kubelogin" || $1 == "github.com/docker/docker-credential-helpers") && $2 ~ /^v/ { printf "%s%s@%s", sep, $1, $2; sep = ", " }' "$peers_src/go.mod")."
echo
echo "$machine"

if [ -n "$write_doc" ]; then
	template=scripts/bench/performance.md.in
	{
		sed -n '/^@RUN@$/q;p' "$template"
		echo "$machine"
		echo
		cat "$results"
		sed -n '/^@RUN@$/,$p' "$template" | sed 1d
	} >docs/performance.md
	echo "bench: wrote docs/performance.md" >&2
fi
