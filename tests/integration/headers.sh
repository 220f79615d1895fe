#!/usr/bin/env bash
# The installed public headers, as other programs use them: every header
# under include/usnet/ compiles alone as strict ISO C11 (-pedantic) and as
# C++ (C++11 and C++17); the README's example and pkgconfig_app.c build as
# C11 and as C++ against the installed libusnet.so with only
# `pkg-config usnet`; pkgconfig_app runs in both languages.
# usage: headers.sh BUILD_DIR SOURCE_DIR [EXTRA_CFLAGS]
set -euo pipefail
build=$1 src=$2 extra=${3:-}
for c in pkg-config cc c++; do
	command -v "$c" >/dev/null || { echo "SKIP: $c is not installed"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pc=$(find "$tmp/prefix" -name usnet.pc)
[[ -n $pc ]] || fail "no usnet.pc installed"
export PKG_CONFIG_PATH=$(dirname "$pc")
read -ra cflags <<<"$(pkg-config --cflags usnet)"
read -ra libs <<<"$(pkg-config --libs usnet)"
read -ra xflags <<<"$extra"
libdir=$(pkg-config --variable=libdir usnet)
incdir=$(pkg-config --variable=includedir usnet)
C=(cc -std=c11 -pedantic -Wall -Wextra -Werror)
CXX11=(c++ -std=c++11 -pedantic -Wall -Wextra -Werror)
CXX17=(c++ -std=c++17 -pedantic -Wall -Wextra -Werror)

# Each header alone, in each language.
mapfile -t headers < <(cd "$incdir" && find usnet -name '*.h' | sort)
[[ ${#headers[@]} -gt 0 ]] || fail "no headers installed in $incdir/usnet"
for h in "${headers[@]}"; do
	printf '#include <%s>\n' "$h" >"$tmp/one.c"
	cp "$tmp/one.c" "$tmp/one.cc"
	"${C[@]}" "${cflags[@]}" -fsyntax-only "$tmp/one.c" || fail "$h as C11 (-pedantic)"
	"${CXX11[@]}" "${cflags[@]}" -fsyntax-only "$tmp/one.cc" || fail "$h as C++11"
	"${CXX17[@]}" "${cflags[@]}" -fsyntax-only "$tmp/one.cc" || fail "$h as C++17"
done
echo "ok: ${#headers[@]} headers compile alone as C11 -pedantic, C++11 and C++17 -pedantic"

# The README's example (its first C block that calls usnet_rx_burst): its
# #include lines at file scope, the rest as the body of a function (it
# loops forever on a real interface: built and linked, not run).
awk '/^```c$/ { inb = 1; b = ""; next }
	inb && /^```$/ { inb = 0; if (b ~ /usnet_rx_burst/) { printf "%s", b; exit } next }
	inb { b = b $0 "\n" }' "$src/README.md" >"$tmp/readme.txt"
grep -q usnet_rx_burst "$tmp/readme.txt" || fail "no C example with usnet_rx_burst in README.md"
{
	echo '#include <stdio.h>'
	grep '^#include' "$tmp/readme.txt"
	echo 'int readme_example(void);'
	echo 'int readme_example(void)'
	echo '{'
	grep -v '^#include' "$tmp/readme.txt"
	echo '}'
	echo 'int main(int argc, char **argv) { (void)argv; return argc > 99 ? readme_example() : 0; }'
} >"$tmp/readme.c"
cp "$tmp/readme.c" "$tmp/readme.cc"
"${C[@]}" "${xflags[@]}" "${cflags[@]}" "$tmp/readme.c" -o "$tmp/readme-c" "${libs[@]}" ||
	fail "README example as C11 -pedantic against the installed library"
"${CXX11[@]}" "${xflags[@]}" "${cflags[@]}" "$tmp/readme.cc" -o "$tmp/readme-cxx" "${libs[@]}" ||
	fail "README example as C++11 against the installed library"
LD_LIBRARY_PATH=$libdir "$tmp/readme-c" || fail "README example (C) does not start"
LD_LIBRARY_PATH=$libdir "$tmp/readme-cxx" || fail "README example (C++) does not start"
echo "ok: the README's example builds as C11 -pedantic and C++11 against the installed libusnet.so"

# A program that runs: null: port, 8 packets in and out, in both languages.
cp "$src/tests/integration/pkgconfig_app.c" "$tmp/app.cc"
"${C[@]}" "${xflags[@]}" "${cflags[@]}" "$src/tests/integration/pkgconfig_app.c" -o "$tmp/app-c" "${libs[@]}" ||
	fail "pkgconfig_app.c as C11 -pedantic"
"${CXX11[@]}" "${xflags[@]}" "${cflags[@]}" "$tmp/app.cc" -o "$tmp/app-cxx" "${libs[@]}" ||
	fail "pkgconfig_app.c as C++11"
for lang in c cxx; do
	out=$(LD_LIBRARY_PATH=$libdir "$tmp/app-$lang") || fail "app-$lang exited $?: '$out'"
	[[ $out == "rx 8 tx 8" ]] || fail "app-$lang printed '$out', expected 'rx 8 tx 8'"
done
# The ring from C++ (std::atomic) has C's layout (_Atomic), and its inline
# burst functions work on a ring the library allocated.
cat >"$tmp/ring.cc" <<'CXX'
#include <cstddef>
#include <cstdio>
#include <usnet/usnet.h>
static_assert(offsetof(struct usnet_ring, tail) == 64 && offsetof(struct usnet_ring, slot) == 128,
	      "struct usnet_ring layout in C++");
int main()
{
	struct usnet_ring *r;
	int v[5];
	void *in[5], *out[8];
	if (usnet_ring_create(&r, 4) != 0)
		return 1;
	for (int i = 0; i < 5; i++)
		in[i] = &v[i];
	unsigned a = usnet_ring_enqueue_burst(r, in, 5);
	unsigned c = usnet_ring_count(r);
	unsigned b = usnet_ring_dequeue_burst(r, out, 8);
	bool order = b == 4 && out[0] == in[0] && out[3] == in[3];
	usnet_ring_destroy(r);
	std::printf("%u %u %u %s\n", a, c, b, order ? "in order" : "out of order");
	return 0;
}
CXX
cat >"$tmp/ring-layout.c" <<'C'
#include <stddef.h>
#include <usnet/ring.h>
_Static_assert(offsetof(struct usnet_ring, tail) == 64 && offsetof(struct usnet_ring, slot) == 128,
	       "struct usnet_ring layout in C");
C
"${C[@]}" "${cflags[@]}" -fsyntax-only "$tmp/ring-layout.c" || fail "struct usnet_ring layout in C"
"${CXX11[@]}" "${xflags[@]}" "${cflags[@]}" "$tmp/ring.cc" -o "$tmp/ring-cxx" "${libs[@]}" ||
	fail "usnet_ring from C++11"
out=$(LD_LIBRARY_PATH=$libdir "$tmp/ring-cxx") || fail "ring-cxx exited $?"
[[ $out == "4 4 4 in order" ]] || fail "ring from C++: '$out', expected '4 4 4 in order'"
echo "ok: usnet_ring from C++ has C's layout and passes items in order"

# Strict C11 has no clock_gettime(): usnet_now_ns() is then the library's.
cat >"$tmp/now.c" <<'C'
#include <stdio.h>
#include <usnet/time.h>
int main(void)
{
	uint64_t a = usnet_now_ns(), b = usnet_now_ns();
	printf("%s\n", a > 0 && b >= a ? "monotonic" : "not monotonic");
	return 0;
}
C
"${C[@]}" "${xflags[@]}" "${cflags[@]}" "$tmp/now.c" -o "$tmp/now-c" "${libs[@]}" ||
	fail "usnet_now_ns() from strict C11"
out=$(LD_LIBRARY_PATH=$libdir "$tmp/now-c") || fail "now-c exited $?"
[[ $out == monotonic ]] || fail "usnet_now_ns() from strict C11: '$out'"
echo "ok: usnet_now_ns() from strict C11 (the library's copy)"

echo "PASS: public headers and the installed library from strict C11 and from C++"
