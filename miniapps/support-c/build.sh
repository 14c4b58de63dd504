#!/bin/sh
# Builds the C support bot: compiles the .c files here with the C SDK
# (sdk/c) for wasm32 with clang, then embeds manifest.json, writing OUT
# (default: ../support-c.wasm). The result is byte for byte what
# `passerelle app build miniapps/support-c` writes (the flags are
# runtime/appbuild.CFlags; test/build_test.go checks they agree).
#
#   sh miniapps/support-c/build.sh [--no-manifest] [OUT]
#
# Needs clang and lld 14 or later (Debian: apt-get install clang lld), and,
# to embed the manifest, the passerelle command on PATH or the Go toolchain
# (then it runs the one of this repository); PASSERELLE names another
# passerelle binary. --no-manifest writes the module without the manifest,
# for a caller that embeds it (miniapps/dist/gen).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
embed=yes
if [ "${1:-}" = --no-manifest ]; then
	embed=no
	shift
fi
out=${1:-$here/../support-c.wasm}
case $out in /*) ;; *) out=$(pwd)/$out ;; esac

command -v clang >/dev/null 2>&1 || { echo "build.sh: clang is not on PATH: apt-get install clang lld" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cd "$here"
clang --target=wasm32 -mbulk-memory -nostdlib -ffreestanding -std=c11 -O2 \
	-Wall -Wextra -Werror=implicit-function-declaration \
	-Wl,--no-entry -Wl,--gc-sections -Wl,--strip-all \
	-Wl,--stack-first -Wl,-z,stack-size=65536 \
	-I . -I "$root/sdk/c/include" -o "$tmp/app.wasm" \
	*.c "$root/sdk/c/src/passerelle.c"

if [ $embed = no ]; then
	cp "$tmp/app.wasm" "$out"
elif [ -n "${PASSERELLE:-}" ]; then
	"$PASSERELLE" app build -wasm "$tmp/app.wasm" -o "$out" "$here"
elif command -v passerelle >/dev/null 2>&1; then
	passerelle app build -wasm "$tmp/app.wasm" -o "$out" "$here"
else
	(cd "$root" && go run ./cmd/passerelle app build -wasm "$tmp/app.wasm" -o "$out" "$here")
fi
