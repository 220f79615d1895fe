#!/usr/bin/env bash
# usnetd under valgrind memcheck: the switch-semantics run, 20 clients
# SIGKILLed under load, two protocol violators, then SIGTERM. valgrind must
# report no error and no leak, and usnetd exit 0. Uses the unsanitized
# build of usnetd (daemon/usnetd-plain in a USNET_SANITIZE tree: valgrind
# cannot run ASan binaries). No root needed.
#
# usage: usnetd_valgrind.sh BUILD_DIR [CYCLES]     exit 77 without valgrind
set -euo pipefail
build=${1:?usage: usnetd_valgrind.sh BUILD_DIR [CYCLES]}
cycles=${2:-20}
name=usnetd_valgrind
command -v valgrind >/dev/null || { echo "SKIP: valgrind is not installed"; exit 77; }
source "$(dirname "$0")/usnetd_lib.sh"

plain=$build/daemon/usnetd-plain
[[ -x "$plain" ]] || plain=$usnetd
if nm "$plain" 2>/dev/null | grep -q __asan_init; then
	echo "SKIP: $plain is built with ASan, which valgrind cannot run"
	exit 77
fi
vlog=$tmp/valgrind.txt
# --child-silent-after-fork: the supervisor is not used here; fds 3+ are
# usnetd's own business.
USNETD_CMD="valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible \
	--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
	--track-fds=no --log-file=$vlog $plain"
start_usnetd usnetd -u "memif:$tmp/up.sock,role=server,id=0" -i 1 -i 2 -i 3,allow_any_src_mac=yes -i 4

timeout 120 "$peer" switch "$tmp/d.sock" "$tmp/up.sock" >"$tmp/switch.out" 2>&1 ||
	{ cat "$tmp/switch.out"; fail "switch semantics under valgrind"; }
grep PASS "$tmp/switch.out"
# usnetd_peer's "not received" is a 150 ms window; these exact counts (as in
# usnetd_switch.sh) say no frame went anywhere else.
[[ "$(q '[c[i]["tx_frames"] for i in (1, 2, 3)], [c[i]["rx_frames"] for i in (1, 2, 3)]')" == "([5, 5, 5], [6, 2, 1])" ]] ||
	fail "switch counters under valgrind: $(q 'c')"
[[ "$(q 'd["uplinks"][0]["rx_frames"], d["uplinks"][0]["rx_filtered"], d["uplinks"][0]["tx_frames"]')" == "(6, 2, 3)" ]] ||
	fail "uplink counters under valgrind: $(q 'd["uplinks"][0]')"
for i in $(seq "$cycles"); do
	"$pktgen" -p "memif:$tmp/d.sock,id=4" --src-mac 02:75:00:00:00:04 -q -t 60 2>>"$tmp/cycle.log" &
	p=$!
	for _ in $(seq 400); do
		[[ $(grep -c "interface 4 (if4) up" "$tmp/usnetd.log" || true) -ge $i ]] && break
		sleep 0.025
	done
	sleep 0.05
	kill -KILL "$p"
	wait "$p" 2>/dev/null || true
	for _ in $(seq 400); do
		[[ $(grep -c "interface 4 (if4) down" "$tmp/usnetd.log" || true) -ge $i ]] && break
		sleep 0.025
	done
done
[[ $(grep -c "interface 4 (if4) down" "$tmp/usnetd.log" || true) -eq $cycles ]] ||
	fail "only $(grep -c "interface 4 (if4) down" "$tmp/usnetd.log") of $cycles kill cycles seen"
echo "ok: $cycles clients killed under load"
declare -A want=([desc]="Descriptor outside its region" [chain]="Descriptor chain longer than the ring")
for k in desc chain; do
	out=$(timeout 60 "$peer" evil "$tmp/d.sock" 3 "$k" 2>&1) || fail "evil $k: $out"
	[[ "$out" == "disconnected: ${want[$k]}" ]] || fail "evil $k: '$out', expected '${want[$k]}'"
	echo "ok: evil client ($k) -> $out"
done
[[ "$(q 'd["usnetd"]["violations"], c[3]["violations"]')" == "(2, 2)" ]] ||
	fail "violations counted: $(q 'd["usnetd"], c[3]')"
"$ctl" --socket "$tmp/d.ctl" stats | head -n 2
stop_usnetd TERM
echo "valgrind: $(grep -E 'ERROR SUMMARY' "$vlog")"
grep -E "definitely lost|indirectly lost|possibly lost|All heap blocks were freed" "$vlog" || true
[[ "$usnetd_rc" == 0 ]] || { cat "$vlog"; fail "usnetd under valgrind exited with $usnetd_rc"; }
grep -q "ERROR SUMMARY: 0 errors" "$vlog" || { cat "$vlog"; fail "valgrind found errors"; }
echo "PASS: usnetd clean under valgrind ($cycles kill cycles, violators, shutdown)"
