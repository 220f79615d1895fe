#!/usr/bin/env bash
# Shared by tests/integration/usnetd_*.sh (sourced, not run): start and stop
# usnetd in a private temporary directory, ask it things through usnetctl,
# and fail with its log. Every wait is bounded.
#
# The caller sets `build` and `name` first, then sources this file; it gets
# $tmp (removed on exit), $usnetd, $ctl, $peer, and these functions.

usnetd=$build/daemon/usnetd
ctl=$build/tools/usnetctl
peer=$build/tests/usnetd_peer
pktgen=$build/tools/usnet-pktgen
sink=$build/tools/usnet-sink
for bin in "$usnetd" "$ctl" "$peer" "$pktgen" "$sink"; do
	[[ -x "$bin" ]] || { echo "FAIL: $bin is missing (build first)"; exit 1; }
done
command -v python3 >/dev/null || { echo "SKIP: python3 not found (JSON checks)"; exit 77; }

tmp=$(mktemp -d "/tmp/$name.XXXXXX")
bg_pids=()
usnetd_pid=

cleanup_usnetd_lib() {
	local p all=("${bg_pids[@]+"${bg_pids[@]}"}" $usnetd_pid)
	# INT first: `timeout` passes it on to what it runs (testpmd), KILL would not.
	for p in "${all[@]+"${all[@]}"}"; do kill -INT "$p" 2>/dev/null || true; done
	for _ in $(seq 50); do
		local alive=0
		for p in "${all[@]+"${all[@]}"}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[[ $alive -eq 0 ]] && break
		sleep 0.1
	done
	for p in "${all[@]+"${all[@]}"}"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "${all[@]+"${all[@]}"}"; do wait "$p" 2>/dev/null || true; done
	[[ -n "${extra_cleanup:-}" ]] && eval "$extra_cleanup"
	rm -rf "$tmp"
}
trap cleanup_usnetd_lib EXIT

fail() {
	echo "FAIL: $*"
	for f in "$tmp"/*.log; do [[ -f "$f" ]] && { echo "---- $f"; tail -n 30 "$f"; }; done
	exit 1
}

# start_usnetd LOGNAME ARGS...: run usnetd (the binary in $USNETD_CMD, default
# $usnetd) in the background with -s $tmp/d.sock, wait up to 10 s for its
# control socket. Sets usnetd_pid.
start_usnetd() {
	local log=$tmp/$1.log
	shift
	${USNETD_CMD:-$usnetd} -s "$tmp/d.sock" "$@" >"$log" 2>&1 &
	usnetd_pid=$!
	for _ in $(seq 200); do
		grep -q "ready: memif socket" "$log" 2>/dev/null && return 0
		kill -0 "$usnetd_pid" 2>/dev/null || break
		sleep 0.05
	done
	fail "usnetd did not start: $(tail -n 5 "$log")"
}

# stop_usnetd [SIGNAL]: signal it (TERM) and wait at most 10 s; sets usnetd_rc.
# (Not in $(...): only this shell can wait for its child.)
stop_usnetd() {
	usnetd_rc=0
	kill -"${1:-TERM}" "$usnetd_pid" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$usnetd_pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$usnetd_pid" 2>/dev/null && echo "usnetd did not stop within 10 s" >&2
	wait "$usnetd_pid" || usnetd_rc=$?
	usnetd_pid=
}

# q JSON_EXPR: evaluate a Python expression over `usnetctl stats --json` as `d`.
q() {
	"$ctl" --socket "$tmp/d.ctl" stats --json >"$tmp/stats.json" || fail "usnetctl stats failed"
	python3 -c "import json,sys; d=json.load(open(sys.argv[1])); c={x['id']:x for x in d['clients']}; print(($1))" "$tmp/stats.json"
}

# wait_for EXPR SECONDS: until q EXPR prints True.
wait_for() {
	local n=$(( ${2:-5} * 20 ))
	for _ in $(seq "$n"); do [[ "$(q "$1")" == True ]] && return 0; sleep 0.05; done
	return 1
}

fd_count() { ls "/proc/$1/fd" | wc -l; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
