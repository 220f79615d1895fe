#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, then build a program against it
# with nothing but `pkg-config usnet`, shared and static, and run both. Also
# check the rest of the install: the tools run without LD_LIBRARY_PATH
# (rpath), usnetd's systemd unit points at the installed usnetd and docs,
# the example configuration passes `usnetd --check`, and every man page in
# man/ is installed, one for each installed program.
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

# The tools find libusnet.so through their rpath ($ORIGIN/../lib).
prefix=$tmp/prefix
for tool in "$prefix"/bin/usnet-*; do
	env -u LD_LIBRARY_PATH "$tool" --help >/dev/null ||
		{ echo "FAIL: installed $tool --help (libusnet.so not found?)"; exit 1; }
done

# usnetd's unit, its configuration example and the docs it points to.
unit=$(find "$prefix" -name usnetd.service)
[[ -n $unit ]] || { echo "FAIL: no usnetd.service installed"; exit 1; }
exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
[[ $exe == "$prefix"/* && -x $exe ]] || { echo "FAIL: $unit: ExecStart '$exe' is not the installed usnetd"; exit 1; }
doc=$(sed -n 's|^Documentation=file://||p' "$unit")
[[ $doc == "$prefix"/* && -f $doc ]] || { echo "FAIL: $unit: Documentation '$doc' is not installed"; exit 1; }
conf=$(find "$prefix" -name usnetd.conf.example)
[[ -n $conf ]] || { echo "FAIL: no usnetd.conf.example installed"; exit 1; }
"$exe" -f "$conf" --check >/dev/null || { echo "FAIL: $exe -f $conf --check"; exit 1; }

# Man pages: each page of man/ installed in its section, and, once man/
# exists, one for every installed program.
pages=("$src"/man/*.[1-8])
if [[ -e ${pages[0]} ]]; then
	for page in "${pages[@]}"; do
		name=$(basename "$page")
		[[ -f $prefix/share/man/man${name##*.}/$name ]] ||
			{ echo "FAIL: man page $name not installed in share/man/man${name##*.}"; exit 1; }
	done
	for prog in "$prefix"/bin/* "$prefix"/sbin/*; do
		p=$(basename "$prog")
		compgen -G "$prefix/share/man/man[18]/$p.[18]" >/dev/null ||
			{ echo "FAIL: no man page for the installed $p (man/$p.1 or man/$p.8)"; exit 1; }
		if command -v man >/dev/null; then
			man -M "$prefix/share/man" -w "$p" >/dev/null || { echo "FAIL: man -M ... $p finds nothing"; exit 1; }
		fi
	done
	echo "ok: ${#pages[@]} man pages installed, one for each installed program"
else
	echo "note: no man pages in $src/man: none installed or checked"
fi
echo "PASS: installed headers, libusnet.so, libusnet.a and usnet.pc build and run a program;" \
	"tools, usnetd's unit, its example configuration and docs are installed"
