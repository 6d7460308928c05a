#!/usr/bin/env bash
# Regenerates the Go code for proto/dtcredential/v1/token_provider.proto.
#
#   scripts/gen-proto.sh          rewrite the committed *.pb.go files
#   scripts/gen-proto.sh --check  regenerate into a temp dir and fail (exit 1)
#                                 when the committed files are stale
#
# protoc comes from Debian's protobuf-compiler (installed with apt-get when
# missing and running as root); the Go plugins are built at pinned versions
# so every machine writes the same bytes. The only line allowed to differ is
# the protoc version comment the generators record in each header, because
# that depends on the distribution, not on the .proto file.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="/usr/local/go/bin:$PATH"

# Keep these in step with go.mod: protoc-gen-go must match
# google.golang.org/protobuf, and protoc-gen-go-grpc's output needs a grpc
# runtime at least as new as its SupportPackageIsVersion.
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.5.1

PROTO_DIR=proto
PROTO_FILES=(dtcredential/v1/token_provider.proto)
GENERATED=(
	dtcredential/v1/token_provider.pb.go
	dtcredential/v1/token_provider_grpc.pb.go
)

check=false
case "${1:-}" in
"") ;;
--check) check=true ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

if ! command -v protoc >/dev/null 2>&1 || [ ! -f /usr/include/google/protobuf/timestamp.proto ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "gen-proto: installing protobuf-compiler with apt-get" >&2
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler libprotobuf-dev >/dev/null
	else
		echo "gen-proto: protoc not found: install Debian's protobuf-compiler and libprotobuf-dev" >&2
		exit 1
	fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Build the generators into a private bin dir: `go install pkg@version`
# ignores this module's go.mod, so the pinned versions are what runs.
GOBIN="$tmp/bin" GOFLAGS=-mod=mod go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
GOBIN="$tmp/bin" GOFLAGS=-mod=mod go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
export PATH="$tmp/bin:$PATH"

out="$tmp/out"
mkdir -p "$out"
protoc \
	-I "$PROTO_DIR" \
	-I /usr/include \
	--go_out="$out" --go_opt=paths=source_relative \
	--go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
	"${PROTO_FILES[@]/#/$PROTO_DIR/}"

# normalize drops the protoc version comment ("// \tprotoc v3.21.12" from
# protoc-gen-go, "// - protoc v3.21.12" from protoc-gen-go-grpc).
normalize() { sed -E '/^\/\/[[:space:]]+(- )?protoc[[:space:]]/d' "$1"; }

if $check; then
	stale=()
	for f in "${GENERATED[@]}"; do
		if [ ! -f "$PROTO_DIR/$f" ] || ! diff -u <(normalize "$PROTO_DIR/$f") <(normalize "$out/$f") >"$tmp/diff" 2>&1; then
			stale+=("$PROTO_DIR/$f")
			cat "$tmp/diff" >&2 || true
		fi
	done
	if [ ${#stale[@]} -gt 0 ]; then
		echo "gen-proto: generated code is stale: ${stale[*]}" >&2
		echo "gen-proto: run scripts/gen-proto.sh and commit the result" >&2
		exit 1
	fi
	echo "gen-proto: generated code is up to date"
	exit 0
fi

for f in "${GENERATED[@]}"; do
	cp "$out/$f" "$PROTO_DIR/$f"
done
echo "gen-proto: wrote ${GENERATED[*]/#/$PROTO_DIR/}"
