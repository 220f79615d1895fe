# SPDX-License-Identifier: MIT
# Shared by the tool interface tests that need no root and no network
# (stack_cli.sh, tcp_cli.sh, tools_cli.sh): source it, then
# `cli_init NAME TOOL...`. sane alone serves tests with a fail of their own
# (tcp_usnetd.sh: usnetd_lib.sh's, which exits): source this file first.
#
# cli_init NAME TOOL...: T (the build's tools/), TMP (removed on exit) and
# fails=0; fails if a usnet-TOOL is not built, skips without python3.
# Needs BUILD set.
cli_init() {
	local name=$1 tool
	shift
	T=$BUILD/tools
	TMP=$(mktemp -d "/tmp/$name.XXXXXX")
	trap 'rm -rf "$TMP"' EXIT
	fails=0
	for tool in "$@"; do
		[ -x "$T/usnet-$tool" ] || { echo "FAIL: $T/usnet-$tool not built"; exit 1; }
	done
	command -v python3 >/dev/null || { echo "SKIP: python3 not found (JSON checks)"; exit 77; }
}
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
# sane WHAT STATUS ERRFILE: no crash (status below 124), no sanitizer report.
sane() {
	[ "$2" -lt 124 ] || fail "$1: exit status $2 (crash, signal or timeout): $(head -c 500 "$3")"
	! grep -q -e 'Sanitizer' -e 'runtime error:' "$3" || fail "$1: sanitizer report: $(head -30 "$3")"
}
# expect_run STATUS WHAT TOOL ARGS...: usnet-TOOL ARGS (60 s at most), its
# stdout in $TMP/out and stderr in $TMP/err, is sane and exits STATUS
# (returns 1 if not).
expect_run() {
	local want=$1 what=$2 tool=$3 st
	shift 3
	timeout -k 5 60 "$T/usnet-$tool" "$@" >"$TMP/out" 2>"$TMP/err"
	st=$?
	sane "$what" $st "$TMP/err"
	[ $st -eq "$want" ] ||
		{ fail "$what: exit status $st, expected $want: $(head -c 300 "$TMP/err")"; return 1; }
}
# expect_err STATUS MESSAGE TOOL ARGS...: exactly one line on stderr holding
# MESSAGE, nothing on stdout, exit STATUS.
expect_err() {
	local want=$1 msg=$2 tool=$3
	shift 3
	expect_run "$want" "usnet-$tool $*" "$tool" "$@" || return 0
	if [ "$(wc -l <"$TMP/err")" -ne 1 ] || ! grep -qF -- "$msg" "$TMP/err" || [ -s "$TMP/out" ]; then
		fail "usnet-$tool $*: stderr: $(head -c 300 "$TMP/err") (want one line with '$msg'; stdout: $(head -c 100 "$TMP/out"))"
	else
		ok "usnet-$tool $*: $want, '$msg'"
	fi
}
# expect_json WHAT FILE CONDITION over j
expect_json() {
	local r
	r=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(bool(eval(sys.argv[2])))' "$2" "$3" 2>&1)
	[ "$r" = True ] && ok "$1" || fail "$1: not ($3): $r: $(head -c 600 "$2")"
}
