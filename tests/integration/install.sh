#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, then build a program against it
# with nothing but `pkg-config usnet`, shared and static, and run both.
# usage: install.sh BUILD_DIR SOURCE_DIR [EXTRA_CFLAGS]
set -euo pipefail
build=$1 src=$2 extra=${3:-}
command -v pkg-config >/dev/null || { echo "SKIP: pkg-config is not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pc=$(find "$tmp/prefix" -name usnet.pc)
[[ -n $pc ]] || { echo "FAIL: no usnet.pc installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(pkg-config --variable=libdir usnet)
[[ -f $libdir/libusnet.so && -f $libdir/libusnet.a ]] ||
	{ echo "FAIL: pkg-config libdir $libdir lacks libusnet.so/.a"; exit 1; }

# shellcheck disable=SC2086 # extra is a list of flags
cc -std=gnu11 -Wall -Wextra -Werror $extra "$src/tests/integration/pkgconfig_app.c" \
	-o "$tmp/app" $(pkg-config --cflags --libs usnet)
out=$(LD_LIBRARY_PATH=$libdir "$tmp/app")
[[ $out == "rx 8 tx 8" ]] || { echo "FAIL: shared: '$out'"; exit 1; }

# shellcheck disable=SC2086
cc -std=gnu11 -Wall -Wextra -Werror $extra "$src/tests/integration/pkgconfig_app.c" \
	-o "$tmp/app-static" "$libdir/libusnet.a" $(pkg-config --cflags usnet) \
	$(pkg-config --static --libs-only-other --libs-only-l usnet | sed 's/-lusnet//')
out=$("$tmp/app-static")
[[ $out == "rx 8 tx 8" ]] || { echo "FAIL: static: '$out'"; exit 1; }
echo "PASS: installed headers, libusnet.so, libusnet.a and usnet.pc build and run a program"
