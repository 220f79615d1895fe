#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The man pages in man/ cannot drift from the programs: every program that
# `cmake --install` puts in bin/ or sbin/ has a page (man/NAME.1 or .8; .8 for
# sbin/); every option its --help names is in the page, and every option the
# page's OPTIONS section describes is in --help; each page renders with
# groff's warnings on (-ww) and man(1) without a word on stderr (and passes
# mandoc -T lint where mandoc is installed).
# usage: man_pages.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
build=${1:?usage: man_pages.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: man_pages.sh BUILD_DIR SOURCE_DIR}
command -v groff >/dev/null || { echo "SKIP: groff not installed (Debian: groff-base)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }
tmp=$(mktemp -d /tmp/man_pages.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
checks=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null || { echo "FAIL: cmake --install"; exit 1; }
progs=()
for dir in bin sbin; do
	for p in "$tmp/prefix/$dir"/*; do
		[[ -f $p && -x $p ]] && progs+=("$dir:$p")
	done
done
[[ ${#progs[@]} -ge 7 ]] || fail "only ${#progs[@]} programs installed: ${progs[*]}"

for entry in "${progs[@]}"; do
	dir=${entry%%:*} prog=${entry#*:} name=$(basename "${entry#*:}")
	# An sbin/ program is an administrator's: section 8. A bin/ one may be
	# either (usnetctl binds devices: 8).
	page=$src/man/$name.8
	[[ $dir == bin && ! -f $page ]] && page=$src/man/$name.1
	checks=$((checks + 1))
	if [[ ! -f $page ]]; then
		fail "$name (in $dir/) has no man page $page"
		continue
	fi
	# Rendering: no warning from groff (-ww: all of them) nor from man.
	checks=$((checks + 1))
	if ! groff -man -ww -z "$page" >"$tmp/groff.err" 2>&1 || [[ -s $tmp/groff.err ]]; then
		fail "$page: groff warns: $(head -n 5 "$tmp/groff.err")"
	fi
	if command -v man >/dev/null; then
		checks=$((checks + 1))
		if ! MANWIDTH=80 man --warnings -l "$page" >"$tmp/man.out" 2>"$tmp/man.err" ||
			[[ -s $tmp/man.err ]]; then
			fail "$page: man -l: $(head -n 5 "$tmp/man.err")"
		elif ! grep -q "^NAME" "$tmp/man.out" || ! grep -q "$name" "$tmp/man.out"; then
			fail "$page: man -l rendered no NAME section"
		fi
	fi
	if command -v mandoc >/dev/null; then
		checks=$((checks + 1))
		mandoc -T lint -W warning "$page" >"$tmp/lint" 2>&1 ||
			fail "$page: mandoc -T lint: $(head -n 5 "$tmp/lint")"
	fi
	# Options: --help against the page, both ways.
	LD_LIBRARY_PATH=$tmp/prefix/lib:$tmp/prefix/lib64 "$prog" --help >"$tmp/help" 2>&1 ||
		{ fail "$name --help failed: $(head -n 3 "$tmp/help")"; continue; }
	checks=$((checks + 1))
	python3 - "$tmp/help" "$page" "$name" >"$tmp/diff" <<'PY' || fail "$(cat "$tmp/diff")"
import re, sys
help_text = open(sys.argv[1]).read()
roff = open(sys.argv[2]).read()
name = sys.argv[3]
# The page as words: roff's \- is a minus; fonts and escapes go.
plain = re.sub(r"\\f[BIRP]|\\c|\\&", "", roff.replace("\\-", "-"))
opt = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
def has(text, o):
    return re.search(r"(?<![\w-])" + re.escape(o) + r"(?![\w-])", text) is not None
missing = sorted({o for o in opt.findall(help_text) if not has(plain, o)})
# What the OPTIONS section of the page describes: the first word of each
# .TP tag there.
m = re.search(r"^\.SH OPTIONS\n(.*?)(?=^\.SH )", plain, re.S | re.M)
described = set()
if m:
    for tag in re.findall(r"^\.TP[^\n]*\n([^\n]*)", m.group(1), re.M):
        described.update(opt.findall(tag))
else:
    print(f"{name}: the page has no OPTIONS section")
    sys.exit(1)
stale = sorted(o for o in described if not has(help_text, o))
if missing or stale:
    if missing:
        print(f"{name}: --help names options the page lacks: {' '.join(missing)}")
    if stale:
        print(f"{name}: the page describes options --help does not know: {' '.join(stale)}")
    sys.exit(1)
print(f"ok: {name}: {len(set(opt.findall(help_text)))} options in --help, all in the page")
PY
	cat "$tmp/diff" | grep '^ok:' || true
done

echo "$checks checks, $fails failed"
[[ $fails -eq 0 ]] && echo "PASS: ${#progs[@]} programs, each with a man page that matches its --help"
exit $((fails > 0))
