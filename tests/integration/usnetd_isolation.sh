#!/usr/bin/env bash
# Isolation: while client 1 (usnet-pktgen) sends 200000 numbered frames to
# client 2 (usnet-sink) through usnetd, client 3 breaks the memif protocol
# in every way usnetd_peer knows (ring head out of range, descriptor
# outside its region or in a region that does not exist, a chain longer
# than the ring, a bad buffer offered for receiving, a message out of turn,
# a message of the wrong size). Each time usnetd must disconnect client 3
# with the reason and count it, and client 2 must get every frame of
# client 1, in order, none lost. No root needed.
#
# usage: usnetd_isolation.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: usnetd_isolation.sh BUILD_DIR}
name=usnetd_isolation
source "$(dirname "$0")/usnetd_lib.sh"
n=200000

start_usnetd usnetd -U null: -i 1 -i 2 -i 3 -i 4
# 16384-slot rings (rsize=14): 0.4 s of frames at 40 kpps, should a loaded
# machine deschedule the sink for a while (usnetd would count drops).
timeout 60 "$sink" -p "memif:$tmp/d.sock,id=2,rsize=14" -n "$n" --expect "$n" --idle-timeout 20000 \
	-q --json >"$tmp/sink.out" 2>"$tmp/sink.log" &
sink_pid=$!
bg_pids+=("$sink_pid")
wait_for 'c[2]["connected"]' 10 || fail "sink did not connect"
timeout 60 "$pktgen" -p "memif:$tmp/d.sock,id=1" -n "$n" -r 40000 --src-mac 02:75:00:00:00:01 \
	--dst-mac 02:75:00:00:00:02 -q --json >"$tmp/pktgen.out" 2>"$tmp/pktgen.log" &
gen_pid=$!
bg_pids+=("$gen_pid")
wait_for 'c[1]["connected"]' 10 || fail "pktgen did not connect"

declare -A want=(
	[head]="C2S head out of range"
	[desc]="Descriptor outside its region"
	[region]="Descriptor region invalid"
	[chain]="Descriptor chain longer than the ring"
	[s2c]="Descriptor outside its region"
	[msg]="Unexpected message"
	[short]="Invalid message size"
)
kinds=(head desc region chain s2c msg short)
for k in "${kinds[@]}"; do
	helper=()
	[[ $k == s2c ]] && helper=(4)
	out=$(timeout 20 "$peer" evil "$tmp/d.sock" 3 "$k" "${helper[@]}" 2>&1) ||
		fail "evil $k: $out"
	[[ "$out" == "disconnected: ${want[$k]}" ]] || fail "evil $k: '$out', expected '${want[$k]}'"
	echo "ok: evil client ($k) -> $out"
done
wait_for 'c[3]["violations"] == 7' 5 || fail "violations counted: $(q 'c[3]')"
wait "$gen_pid" || fail "pktgen failed: $(cat "$tmp/pktgen.out" "$tmp/pktgen.log")"
wait "$sink_pid" || fail "sink did not get every frame: $(cat "$tmp/sink.out")"
echo "sink: $(cat "$tmp/sink.out")"
python3 - "$tmp/sink.out" "$n" <<'EOF' || fail "sink counts"
import json, sys
s = json.load(open(sys.argv[1])); n = int(sys.argv[2])
ok = s["unique"] == n and s["lost"] == 0 and s["duplicated"] == 0 and s["reordered"] == 0
sys.exit(0 if ok else 1)
EOF
[[ "$(q 'd["usnetd"]["violations"], c[1]["violations"], c[2]["violations"], c[2]["tx_drops"]')" == "(7, 0, 0, 0)" ]] ||
	fail "counters: $(q 'd["usnetd"], c[1], c[2]')"
"$ctl" --socket "$tmp/d.ctl" stats | tee "$tmp/stats.txt" | grep -E "^(CLIENT|3 )"
stop_usnetd
[[ "$usnetd_rc" == 0 ]] || fail "usnetd exited with $usnetd_rc"
echo "PASS: 7 kinds of violation disconnected and counted; client 2 got all $n frames of client 1"
