#!/usr/bin/env bash
# Runs every Go fuzz target of the module for SECONDS each (default 60).
# Crashers are written to the package's testdata/fuzz/ by go test: commit them
# with the fix, as regression seeds.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

secs="${1:-60}"
status=0
while IFS= read -r line; do
	file=${line%%:*}
	target=${line#*func }
	target=${target%%(*}
	pkg="./$(dirname "$file")"
	echo "== $pkg $target (${secs}s)"
	if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "${secs}s" -fuzzminimizetime 5s "$pkg"; then
		status=1
	fi
done < <(grep -rn --include='*_test.go' '^func Fuzz' . | sed 's|^\./||' | sort)
exit $status
