# shellcheck shell=bash
# Sourced by install.sh and package.sh, never run: the build both make (the
# binaries package.sh packages are the ones install.sh installs), and the
# command-line errors both give.

# build_stamp sets stamp and commit, what the built programs report as
# their version (git describe of the checkout; devel outside git) and
# commit (unknown outside git).
build_stamp() {
	stamp=$(git describe --always --dirty 2>/dev/null || echo devel)
	commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
}

# build_stamped DIR PKG...: builds the packages' programs into DIR, static,
# with -trimpath, stripped, and stamped with $stamp and $commit; for the
# GOOS and GOARCH of the environment.
build_stamped() {
	local dir=$1
	shift
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$stamp -X main.commit=$commit" -o "$dir/" "$@"
}

# need_go SCRIPT: exits 1, saying so as SCRIPT, when go is not on PATH.
need_go() {
	if ! command -v go >/dev/null 2>&1; then
		echo "$1: go not found on PATH; install Go 1.26 or newer" >&2
		exit 1
	fi
}

# usage_error [MESSAGE]: MESSAGE, when given, then the script's usage, on
# stderr; exit 2.
usage_error() {
	if [ $# -gt 0 ]; then
		echo "$1" >&2
	fi
	usage >&2
	exit 2
}
