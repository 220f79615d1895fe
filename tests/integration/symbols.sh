#!/usr/bin/env bash
# The installed libusnet.so exports exactly the functions its installed
# headers declare, each under the version node USNET_0.1: a public function
# missing from src/libusnet.map, or an internal one exported, fails.
# Declarations come from the compiler (gcc -aux-info over every header under
# include/usnet/, as strict C11 so that out-of-line fallbacks such as
# usnet_now_ns() count); static inline functions are not exported.
# usage: symbols.sh BUILD_DIR
set -euo pipefail
build=$1
for c in gcc nm; do
	command -v "$c" >/dev/null || { echo "SKIP: $c is not installed"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
so=$(find "$tmp/prefix" -name libusnet.so)
[[ -n $so ]] || fail "no libusnet.so installed"
inc=$(find "$tmp/prefix" -type d -path '*/include/usnet')
[[ -n $inc ]] || fail "no include/usnet installed"
incroot=$(dirname "$inc")

# Declared: every installed header, compiled together.
(cd "$incroot" && find usnet -name '*.h' | sort | sed 's/.*/#include <&>/') >"$tmp/all.c"
gcc -std=c11 -I"$incroot" -aux-info "$tmp/aux.txt" -fsyntax-only "$tmp/all.c" ||
	fail "the installed headers do not compile together"
# "/* .../include/usnet/port.h:88:NC */ extern int usnet_port_open (struct ...);"
grep -F "$incroot/usnet/" "$tmp/aux.txt" | grep -v '^/\*[^*]*\*/ static ' | sed 's|^/\*[^*]*\*/ ||' |
	while read -r decl; do
		grep -oE '[A-Za-z_][A-Za-z0-9_]* \(' <<<"$decl" | head -n 1 | tr -d ' ('
	done | sort -u >"$tmp/declared"
[[ -s $tmp/declared ]] || fail "found no function declarations in $inc"

# Exported: defined dynamic symbols, less the version node itself ("A").
nm -D --defined-only "$so" | awk '$2 != "A" { print $3 }' | sort >"$tmp/exported-versioned"
sed 's/@@.*//' "$tmp/exported-versioned" | sort -u >"$tmp/exported"

status=0
if unversioned=$(grep -v '@@USNET_0\.1$' "$tmp/exported-versioned") && [[ -n $unversioned ]]; then
	echo "FAIL: exported without the version node USNET_0.1 (is src/libusnet.map used?):"
	sed 's/^/  /' <<<"$unversioned"
	status=1
fi
if extra=$(comm -13 "$tmp/declared" "$tmp/exported") && [[ -n $extra ]]; then
	echo "FAIL: exported by libusnet.so but not declared in include/usnet (internal; remove from src/libusnet.map):"
	sed 's/^/  /' <<<"$extra"
	status=1
fi
if missing=$(comm -23 "$tmp/declared" "$tmp/exported") && [[ -n $missing ]]; then
	echo "FAIL: declared in include/usnet but not exported by libusnet.so (add to src/libusnet.map):"
	sed 's/^/  /' <<<"$missing"
	status=1
fi
[[ $status -eq 0 ]] || exit 1
echo "PASS: libusnet.so exports exactly the $(wc -l <"$tmp/declared") functions include/usnet declares, all @@USNET_0.1"
