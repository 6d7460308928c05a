# Sourced (bash) by demo.sh, test.sh and keyring-session.sh:
#
#   . scripts/private-env.sh
#   private_env DIR
#
# gives the rest of the script a private environment, whatever the shell
# holds: every variable that is a user's own setting unset (the list, shared
# with the Go tests' testutil.RunIsolated: internal/testutil/usersettings.txt;
# DT_*, VAULT_*, BAO_*, the proxy and CA variables, ...), and HOME and the
# XDG directories in DIR (created, mode 0700; the caller removes DIR), with a
# session bus address where there is no bus. So the demo and the tests never
# read the user's profiles, secrets, caches, proxy or keyring, and never
# send anything where the user's settings point.
#
# Go's own build and module caches, GOPATH and settings file stay where they
# are (pinned by absolute path). Anything that needs the user's network
# settings (apt-get, module downloads) runs before private_env.
private_env() {
	local dir=$1 list name pattern clear keep
	list="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/internal/testutil/usersettings.txt"
	[ -f "$list" ] || { echo "private-env.sh: $list is missing" >&2; return 1; }
	if command -v go >/dev/null 2>&1; then
		{ read -r GOCACHE && read -r GOMODCACHE && read -r GOPATH && read -r GOENV; } < <(go env GOCACHE GOMODCACHE GOPATH GOENV)
		export GOCACHE GOMODCACHE GOPATH GOENV
	fi
	local patterns=()
	while IFS= read -r pattern; do
		case $pattern in '' | '#'*) continue ;; esac
		patterns+=("$pattern")
	done <"$list"
	for name in $(compgen -e); do
		clear= keep=
		for pattern in "${patterns[@]}"; do
			# Unquoted on purpose: the pattern is a glob.
			# shellcheck disable=SC2254
			case $pattern in
			'!'*) case $name in ${pattern#!}) keep=1 ;; esac ;;
			*) case $name in $pattern) clear=1 ;; esac ;;
			esac
		done
		if [ -n "$clear" ] && [ -z "$keep" ]; then
			unset "$name"
		fi
	done
	mkdir -m 0700 -p "$dir/home" "$dir/config" "$dir/cache" "$dir/data" "$dir/state" "$dir/run"
	export HOME="$dir/home" XDG_CONFIG_HOME="$dir/config" XDG_CACHE_HOME="$dir/cache" \
		XDG_DATA_HOME="$dir/data" XDG_STATE_HOME="$dir/state" XDG_RUNTIME_DIR="$dir/run"
	export DBUS_SESSION_BUS_ADDRESS="unix:path=$dir/run/no-bus"
}
