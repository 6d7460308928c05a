#!/usr/bin/env bash
# Builds dt-credential-helper from this checkout and installs it into
# PREFIX/bin, with the two names git and docker look for, and the program
# that serves go-plugin hosts, which it hands over to:
#
#   PREFIX/bin/dt-credential-helper
#   PREFIX/bin/dt-credential-helper-plugin
#   PREFIX/bin/git-credential-dt      -> dt-credential-helper
#   PREFIX/bin/docker-credential-dt   -> dt-credential-helper
#   PREFIX/bin/dt-identity-emulator   (with --emulator only)
#
# Usage: scripts/install.sh [--emulator] [PREFIX]
#
# PREFIX defaults to /usr/local when run as root, else $HOME/.local (the XDG
# place for per-user programs, so no sudo is needed). Needs Go 1.26+ on PATH.
# Re-running replaces each binary atomically, even while it is in use.
# --emulator also installs PREFIX/bin/dt-identity-emulator, a local stand-in
# for the DT token endpoint, for trying the helper by hand without a DT
# account (README.md, "Try it by hand, without a DT account").
set -euo pipefail
. "$(dirname "$0")/build.sh"

usage() {
	sed -n 's/^# \{0,1\}//; 12,19p' "$0"
}

emulator=false
while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help)
		usage
		exit 0
		;;
	--emulator)
		emulator=true
		shift
		;;
	--)
		shift
		break
		;;
	-*) usage_error "install.sh: unknown option $1" ;;
	*) break ;;
	esac
done
[ $# -le 1 ] || usage_error

if [ $# -eq 1 ]; then
	prefix=$1
elif [ "$(id -u)" = 0 ]; then
	prefix=/usr/local
else
	prefix=${HOME:?HOME is not set; pass PREFIX}/.local
fi

cd "$(dirname "$0")/.."
need_go install.sh

bindir=$prefix/bin
mkdir -p "$bindir"
bindir=$(cd "$bindir" && pwd)
build_stamp

# Build next to the targets and rename over them: atomic, and it works even
# when an old binary is running ("text file busy" for a write in place). Both
# are built before either is replaced, so a failed build leaves the old pair.
# The plugin's program goes first: a new helper never looks for it in vain.
# Group and others may not write either: the helper refuses to hand over to
# a plugin's program they could have changed.
tmp=$(mktemp -d "$bindir/.dt-credential-helper.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
progs=(dt-credential-helper-plugin dt-credential-helper)
pkgs=(./cmd/dt-credential-helper ./cmd/dt-credential-helper-plugin)
if $emulator; then
	progs+=(dt-identity-emulator)
	pkgs+=(./cmd/dt-identity-emulator)
fi
build_stamped "$tmp" "${pkgs[@]}"
for prog in "${progs[@]}"; do
	chmod 0755 "$tmp/$prog"
	mv -f "$tmp/$prog" "$bindir/$prog"
done

# Relative links, so the installed tree can be moved as a whole.
for link in git-credential-dt docker-credential-dt; do
	ln -sfn dt-credential-helper "$bindir/$link"
done

echo "installed dt-credential-helper $stamp:"
echo "  $bindir/dt-credential-helper"
echo "  $bindir/dt-credential-helper-plugin"
echo "  $bindir/git-credential-dt -> dt-credential-helper"
echo "  $bindir/docker-credential-dt -> dt-credential-helper"
if $emulator; then
	echo "  $bindir/dt-identity-emulator"
fi
case ":$PATH:" in
*":$bindir:"*) ;;
*)
	echo
	echo "$bindir is not on your PATH; add it, e.g. in ~/.profile:"
	echo "  export PATH=\"$bindir:\$PATH\""
	;;
esac
