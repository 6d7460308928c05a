#!/usr/bin/env bash
# build.sh OUT builds the peer credential helpers that scripts/bench.sh
# measures against, at the versions go.mod and go.sum pin here, into OUT,
# each built the way its project releases it. A peer already in OUT is kept
# (OUT is named by a hash of these files and the Go version, so a rerun is
# fast). A peer that cannot be built leaves OUT/NAME.notbuilt with the reason
# on one line, which the benchmark shows as a row: never dropped silently.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT}
mkdir -p "$out"

# notbuilt NAME REASON records why NAME is missing.
notbuilt() {
	rm -f "$out/$1"
	printf '%s\n' "$2" >"$out/$1.notbuilt"
	echo "bench: peer $1 not built: $2" >&2
}

# build NAME CGO PKG builds PKG from this module as OUT/NAME.
build() {
	local name=$1 cgo=$2 pkg=$3 log
	[ -x "$out/$name" ] && return 0
	log=$(mktemp)
	if CGO_ENABLED=$cgo go build -C "$here" -trimpath -ldflags "-s -w" -o "$out/$name" "$pkg" >"$log" 2>&1; then
		rm -f "$out/$name.notbuilt"
	else
		notbuilt "$name" "go build $pkg failed: $(grep -v '^#' "$log" | head -n 1)"
	fi
	rm -f "$log"
}

# kubelogin releases are built without cgo; it reads its disk cache or the
# Secret Service through go-keyring.
build kubelogin 0 github.com/int128/kubelogin

# docker-credential-secretservice is C: libsecret through cgo.
if ! command -v gcc >/dev/null; then
	notbuilt docker-credential-secretservice "no C compiler for cgo (apt-get install gcc)"
else
	if ! pkg-config --exists libsecret-1 2>/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libsecret-1-dev pkg-config; } >/dev/null 2>&1
	fi
	if pkg-config --exists libsecret-1 2>/dev/null; then
		build docker-credential-secretservice 1 github.com/docker/docker-credential-helpers/secretservice/cmd
	else
		notbuilt docker-credential-secretservice "libsecret-1-dev is missing (apt-get install libsecret-1-dev)"
	fi
fi

# gke-gcloud-auth-plugin lives in k8s.io/cloud-provider-gcp, whose root
# module replaces k8s.io/cloud-provider-gcp/providers with ./providers, so it
# cannot be built as a dependency even where it is served. Ask the proxy once
# per run, so the row says what stands in the way today.
if [ ! -x "$out/gke-gcloud-auth-plugin" ]; then
	probe=$(mktemp -d)
	if why=$(cd "$probe" && GOFLAGS=-mod=mod go list -m k8s.io/cloud-provider-gcp@latest 2>&1); then
		notbuilt gke-gcloud-auth-plugin "the module proxy serves $why, but its root module's replace directive (providers => ./providers) keeps it from building as a dependency; no build recipe here yet"
	else
		notbuilt gke-gcloud-auth-plugin "the Go module proxy here does not serve k8s.io/cloud-provider-gcp ($(printf '%s' "$why" | grep -o '[0-9][0-9][0-9] [A-Za-z ]*' | head -n 1 | sed 's/ *$//') for its @latest and version list)"
	fi
	rm -rf "$probe"
fi
exit 0
