#!/usr/bin/env bash
# Builds the Linux packages of dt-credential-helper with nfpm, at the version
# go.mod pins as a Go tool (go tool nfpm), from scripts/nfpm.yaml:
#
#   OUTDIR/dt-credential-helper_VERSION-1_ARCH.deb
#   OUTDIR/dt-credential-helper-VERSION-1.ARCH.rpm
#   OUTDIR/SHA256SUMS    (check them with: cd OUTDIR && sha256sum -c SHA256SUMS)
#
# Usage: scripts/package.sh [--arch GOARCH] [OUTDIR]
#
# OUTDIR defaults to dist/, GOARCH to Go's own (amd64, arm64, ...). Each package
# holds both static binaries, built and version-stamped as scripts/install.sh
# builds them, in /usr/bin with git-credential-dt and docker-credential-dt
# (relative symlinks); the bash, zsh and fish completions in the directories
# those shells read packaged completions from; the man page; README.md and
# LICENSE. The completions and the man page are the built program's own output
# (completion bash|zsh|fish, and the page docs/dt-credential-helper.1 holds).
# VERSION is the last tag vX.Y.Z without its v (0.0.0 when there is none),
# then, unless HEAD is that tag, +git.N.COMMIT (N commits after it), and .dirty
# when the tree has changes. The packages' files carry the last commit's time
# (SOURCE_DATE_EPOCH), not the build's. Changes nothing outside OUTDIR, but
# for Go's caches.
set -euo pipefail
. "$(dirname "$0")/build.sh"

usage() {
	sed -n 's/^# \{0,1\}//; 9,9p' "$0"
}

arch=
while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help)
		usage
		exit 0
		;;
	--arch)
		[ $# -ge 2 ] || usage_error
		arch=$2
		shift 2
		;;
	-*) usage_error "package.sh: unknown option $1" ;;
	*) break ;;
	esac
done
[ $# -le 1 ] || usage_error

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$root"
need_go package.sh
arch=${arch:-$(go env GOARCH)}

# The binaries' stamp, as install.sh makes it, and the packages' version.
build_stamp
tag=$(git describe --tags --abbrev=0 --match 'v[0-9]*.[0-9]*.[0-9]*' 2>/dev/null || true)
version=${tag#v}
version=${version:-0.0.0}
if [ -z "$tag" ] || [ "$(git rev-list -n1 "$tag" 2>/dev/null)" != "$commit" ]; then
	since=$(git rev-list --count ${tag:+"$tag"..}HEAD 2>/dev/null || echo 0)
	version="$version+git.$since.$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
fi
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then
	version="$version.dirty"
fi
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH

stage=$(mktemp -d "${TMPDIR:-/tmp}/dt-package.XXXXXX")
trap 'rm -rf "$stage"' EXIT
GOOS=linux GOARCH=$arch build_stamped "$stage" ./cmd/dt-credential-helper ./cmd/dt-credential-helper-plugin

# The completions and the man page from the program itself, built for this
# machine when the packages are for another.
gen=$stage/dt-credential-helper
if [ "$arch" != "$(go env GOARCH)" ] || [ "$(go env GOOS)" != linux ]; then
	mkdir "$stage/host"
	CGO_ENABLED=0 go build -trimpath -o "$stage/host/" ./cmd/dt-credential-helper
	gen=$stage/host/dt-credential-helper
fi
for shell in bash zsh fish; do
	"$gen" completion "$shell" >"$stage/completion.$shell"
done
"$gen" __man | gzip -n -9 >"$stage/dt-credential-helper.1.gz"

# nfpm names the files (its arch names: amd64 for dpkg, x86_64 for rpm);
# they are written apart first, so that only they are summed.
mkdir "$stage/pkg"
for packager in deb rpm; do
	STAGE=$stage ARCH=$arch VERSION=$version \
		MAINTAINER="${MAINTAINER:-dt-credential-helper maintainers <https://github.com/dt-credential-helper/dt-credential-helper>}" \
		go tool nfpm package --config scripts/nfpm.yaml --packager "$packager" --target "$stage/pkg/" >/dev/null
done
files=$(cd "$stage/pkg" && ls)
(cd "$stage/pkg" && sha256sum $files >SHA256SUMS)
mv -f "$stage"/pkg/* "$out/"
echo "packaged dt-credential-helper $version ($stamp) for linux/$arch:"
for f in $files SHA256SUMS; do
	echo "  $out/$f"
done
