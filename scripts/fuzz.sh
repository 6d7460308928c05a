#!/usr/bin/env bash
# Runs every Go fuzz target of the module with one budget each: a duration
# (SECONDS, default 60) or an execution count (Nx, e.g. 20000x).
# Crashers are written to the package's testdata/fuzz/ by go test: commit them
# with the fix, as regression seeds.
#   scripts/fuzz.sh [SECONDS | Nx]
#
# A duration budget can end in a bare "context deadline exceeded" failure with
# no crasher: a race in Go's fuzz coordinator at the -fuzztime deadline
# (go.dev/issue/75804, fixed in Go 1.27). Such a run is reported and retried
# once with the same budget; a failure that writes a crasher always fails.
# Count budgets have no deadline and no such race, so CI uses them.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

budget="${1:-60}"
case "$budget" in
*x) ;;
*s) ;;
*[!0-9]* | '')
	echo "usage: scripts/fuzz.sh [SECONDS | Nx]" >&2
	exit 2
	;;
*) budget="${budget}s" ;;
esac

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run_target PKG TARGET: 0 on success, 1 on a real failure, 3 on the
# coordinator's deadline race (no crasher written).
run_target() {
	local pkg=$1 target=$2 corpus="$1/testdata/fuzz/$2" before after
	before=$(ls "$corpus" 2>/dev/null | wc -l)
	if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$budget" -fuzzminimizetime 5s "$pkg" 2>&1 | tee "$log"; then
		return 0
	fi
	after=$(ls "$corpus" 2>/dev/null | wc -l)
	if [ "$after" = "$before" ] && [ "${budget%x}" = "$budget" ] &&
		grep -q '^    context deadline exceeded$' "$log"; then
		return 3
	fi
	return 1
}

status=0
while IFS= read -r line; do
	file=${line%%:*}
	target=${line#*func }
	target=${target%%(*}
	pkg="./$(dirname "$file")"
	echo "== $pkg $target ($budget)"
	rc=0
	run_target "$pkg" "$target" || rc=$?
	if [ "$rc" = 3 ]; then
		echo "== $target: bare 'context deadline exceeded' at the -fuzztime deadline, no crasher (go.dev/issue/75804); retrying once"
		rc=0
		run_target "$pkg" "$target" || rc=$?
	fi
	if [ "$rc" != 0 ]; then
		status=1
	fi
done < <(grep -rn --include='*_test.go' '^func Fuzz' . | sed 's|^\./||' | sort)
exit $status
