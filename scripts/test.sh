#!/usr/bin/env bash
# Runs the whole test suite: formatting, vet, and every Go test with the race
# detector inside a private D-Bus session with a real, unlocked gnome-keyring,
# so the keyring tests run against the real thing.
#
# What it installs or changes on the machine (README.md, "Set up", says the
# same for people):
#   - Debian packages, with apt-get, when run as root and they are missing:
#     dbus, dbus-daemon, dbus-bin, gnome-keyring, libsecret-tools and
#     keyutils (keyring-session.sh), protobuf-compiler and libprotobuf-dev
#     (gen-proto.sh), and for the tests of the completions, the man page and
#     the packages: zsh, fish, man-db, groff and rpm. The packages' test
#     installs the .deb with dpkg into a root of its own, a temporary
#     directory, never into the machine's.
#   - Go modules into Go's module cache (go env GOMODCACHE): about 850 MB
#     for this module, and about 1.8 GB more for OpenBao; Go's build cache
#     grows too. protoc-gen-go and protoc-gen-go-grpc are built into a
#     temporary directory.
#   - An OpenBao server for the Vault tests, built once from the source in
#     ../shared/tools/openbao (when that exists) into
#     ${XDG_CACHE_HOME:-~/.cache}/openbao-2.6.2/bao, about 119 MB (about 12
#     minutes on 2 cores with empty Go caches).
# Nothing else: no system file is edited, and the tests and the demo run in a
# private HOME with none of your settings (private-env.sh); everything they
# write goes to temporary directories they remove.
set -euo pipefail
cd "$(dirname "$0")/.."

# The one system file tests once edited: its checksum now, checked at the end.
hosts_before=$(sha256sum /etc/hosts 2>/dev/null || true)

export PATH="/usr/local/go/bin:$PATH"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "== Go modules (with your Go and proxy settings; the tests get none)"
go mod download

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

# Install keyring-session.sh's packages now, while apt-get still has your
# proxy settings.
bash scripts/keyring-session.sh true

# The shells the completions are tested in, man and groff for the man page,
# rpm to read the .rpm (dpkg is Debian's own): installed now too.
need=()
for tool in zsh:zsh fish:fish man:man-db lexgrog:man-db groff:groff rpm:rpm; do
	command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
# groff-base, which man-db needs, has groff but not its PostScript device.
[ -d /usr/share/groff/current/font/devps ] || need+=(groff)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
		echo "missing ${need[*]}: install them (Debian: apt-get install ${need[*]})" >&2
		exit 1
	fi
	echo "== installing ${need[*]}"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# From here on: a private HOME and XDG directories, and none of your DT_*,
# VAULT_*, proxy or other settings (the tests isolate themselves too).
fuzz_budget=${DT_FUZZ_BUDGET:-20000x}
private=$(mktemp -d "${TMPDIR:-/tmp}/dt-test.XXXXXX")
trap 'rm -rf "$private"' EXIT
. scripts/private-env.sh
private_env "$private"

echo "== go test -race (real Secret Service)"
bash scripts/keyring-session.sh go test -race -count=1 -timeout 30m ./...

echo "== scripts/demo.sh (the README's first command)"
bash scripts/demo.sh

echo "== fuzz targets, briefly"
# A count budget, not a duration: a duration races Go's fuzz coordinator at
# its deadline (go.dev/issue/75804) and fails with no crasher.
bash scripts/fuzz.sh "$fuzz_budget"

echo "== /etc/hosts is as it was"
if [ "$(sha256sum /etc/hosts 2>/dev/null || true)" != "$hosts_before" ]; then
	echo "/etc/hosts changed during the run" >&2
	exit 1
fi
