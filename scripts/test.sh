#!/usr/bin/env bash
# Runs the whole test suite: formatting, vet, and every Go test with the race
# detector inside a private D-Bus session with a real, unlocked gnome-keyring
# (installed when missing), so the keyring tests run against the real thing.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="/usr/local/go/bin:$PATH"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "== go vet"
go vet ./...
# Tests included: a test that does not compile on another platform would stop
# `go test` there before any test ran.
for goos in darwin windows; do
	echo "   GOOS=$goos"
	GOOS=$goos go vet ./...
done

echo "== generated gRPC code is current"
bash scripts/gen-proto.sh --check

echo "== OpenBao server for the Vault engine's end-to-end tests"
# Not served by the module proxy: built once from the source in ../shared
# and cached (cold, about 12 minutes on 2 cores; warm, at once).
shared=$(cd .. && pwd)/shared/tools/openbao/build.sh
if [ -z "${DT_TEST_BAO:-}" ] && [ -f "$shared" ]; then
	DT_TEST_BAO=$(bash "$shared")
	export DT_TEST_BAO
fi
if [ -n "${CI:-}" ] && [ -z "${DT_TEST_BAO:-}" ]; then
	# In CI the Vault end-to-end tests must run, not skip.
	echo "no OpenBao: $shared is missing and DT_TEST_BAO is not set" >&2
	exit 1
fi
echo "DT_TEST_BAO=${DT_TEST_BAO:-(none: the Vault end-to-end tests skip)}"

# The NO_PROXY tests need a name for a loopback address other than
# localhost, which Go never proxies; add one where there is none.
if [ "$(id -u)" = 0 ] && ! awk '$1 ~ /^127\./ { for (i = 2; i <= NF; i++) if ($i != "localhost" && $i !~ /\.localhost$/) f = 1 } END { exit !f }' /etc/hosts; then
	echo "127.0.0.2 dt-test-loopback" >>/etc/hosts
fi

echo "== go test -race (real Secret Service)"
bash scripts/keyring-session.sh go test -race -count=1 -timeout 30m ./...

echo "== scripts/demo.sh (the README's first command)"
bash scripts/demo.sh

echo "== fuzz targets, briefly"
# A count budget, not a duration: a duration races Go's fuzz coordinator at
# its deadline (go.dev/issue/75804) and fails with no crasher.
bash scripts/fuzz.sh "${DT_FUZZ_BUDGET:-20000x}"
