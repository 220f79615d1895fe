#!/bin/bash
# SPDX-License-Identifier: MIT
# The example program in docs/stack.md builds: the first ```c block holding
# a main() is cut out of the document as it is, compiled as strict C11 with
# -Wall -Wextra -Werror against the public headers, and linked with the
# shared library of this build. A document without such a block fails.
# usage: stack_doc_example.sh BUILD_DIR SOURCE_DIR [EXTRA_CFLAGS]
set -u
build=${1:?usage: stack_doc_example.sh BUILD_DIR SOURCE_DIR [EXTRA_CFLAGS]}
src=${2:?usage: stack_doc_example.sh BUILD_DIR SOURCE_DIR [EXTRA_CFLAGS]}
extra=${3:-}
doc=$src/docs/stack.md
command -v cc >/dev/null || { echo "SKIP: no C compiler (cc)"; exit 77; }
[ -f "$doc" ] || { echo "FAIL: $doc does not exist"; exit 1; }
[ -f "$build/libusnet.so" ] || { echo "FAIL: $build/libusnet.so is not built"; exit 1; }
tmp=$(mktemp -d /tmp/stack_doc_example.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# Each ```c ... ``` block to its own file; keep the first with a main().
awk -v dir="$tmp" '
	/^```c[ \t]*$/ { n++; inblock = 1; next }
	/^```/ && inblock { inblock = 0; next }
	inblock { print > (dir "/block" n ".c") }
' "$doc"
example=
for f in $(ls "$tmp"/block*.c 2>/dev/null | sort -V); do
	grep -qE '^int main\(' "$f" && { example=$f; break; }
done
[ -n "$example" ] || { echo "FAIL: $doc has no \`\`\`c block with an int main("; exit 1; }
# shellcheck disable=SC2086 # EXTRA_CFLAGS: several flags
if ! cc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror $extra -I"$src/include" \
	"$example" -o "$tmp/example" -L"$build" -lusnet -Wl,-rpath,"$build" 2>"$tmp/cc.err"; then
	echo "FAIL: the example in $doc does not build:"
	cat "$tmp/cc.err"
	exit 1
fi
echo "ok: the example in $doc ($(wc -l <"$example") lines, block $(basename "$example" .c)) builds"
echo PASS
