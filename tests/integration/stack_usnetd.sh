#!/bin/bash
# SPDX-License-Identifier: MIT
# Two applications with usnet's stack behind usnetd, sharing one uplink
# (afpacket: on a veth whose far end is the kernel, 198.18.24.1/24), each
# on its own memif interface (ids 1 and 2) with its own virtual MAC
# (02:75:00:00:00:01 and ...:02, usnetd's derived MACs) and address
# (198.18.24.11 and .12):
#   - the kernel pings both and resolves each to its own virtual MAC
#     (ip neigh), and a kernel UDP socket gets its datagrams (1, 1472 and
#     8000 bytes) back from usnet-udpecho on each;
#   - the application on each interface runs usnet-udpperf (ping-pong,
#     64 and 8000 bytes) to the other's usnet-udpecho (through usnetd's
#     switch, never the uplink) and to the kernel's UDP echo server (through
#     the uplink); nothing lost;
#   - usnetctl stats: no client dropped a frame for a wrong source MAC,
#     usnetd's pool is whole again, every tool exits 0 without a sanitizer
#     report.
# Usage: stack_usnetd.sh BUILD_DIR     (exit 77 = skipped)
set -u
BUILD=${1:?usage: stack_usnetd.sh BUILD_DIR}
. "$(dirname "$0")/tools_veth_lib.sh"
tv_init stack_usnetd
. "$(dirname "$0")/stack_lib.sh"
USNETD=$BUILD/daemon/usnetd CTL=$BUILD/tools/usnetctl KUE=$BUILD/bench/kernel_udpecho
for b in "$USNETD" "$CTL" "$KUE"; do [ -x "$b" ] || { echo "FAIL: $b is not built"; exit 1; }; done
K=198.18.24.1
declare -A ip=([1]=198.18.24.11 [2]=198.18.24.12) mac=([1]=02:75:00:00:00:01 [2]=02:75:00:00:00:02)

st_pair su "$K"
# The kernel's veth keeps its TX checksum offload: its frames reach usnetd
# with the checksum partial, and usnetd must complete it before the memif
# copy (memif carries no such flag), or the clients count udp_bad_csum.
tv_need_afpacket "$SU" "$UIF"
tv_bg "$TMP/usnetd.out" "$TMP/usnetd.log" "$SU" "$USNETD" -s "$TMP/d.sock" -u "afpacket:$UIF" -i 1 -i 2
tv_wait_line "$TMP/usnetd.log" "ready: memif socket" || exit 1
tv_bg "$TMP/kue.out" "$TMP/kue.err" "$SK" "$KUE" -a "$K" -p 7 -t 100
tv_wait_line "$TMP/kue.err" "echoing on" || exit 1

# app ID ROLE ARGS...: the memif spec and host options of interface ID.
host() { echo -p "memif:$TMP/d.sock,id=$1" --mac "${mac[$1]}" --ip "${ip[$1]}/24"; }

for srv in 1 2; do
	cli=$((3 - srv))
	# shellcheck disable=SC2046
	st_echo_start "$SK" $(host "$srv") -t 100 || exit 1
	if out=$(tv_ping "$SK" 5 "${ip[$srv]}"); then
		ok "kernel pings app $srv (${ip[$srv]}): $out"
	else
		fail "kernel ping of app $srv: $out"
	fi
	neigh=$(ip -n "$SK" neigh show "${ip[$srv]}" dev "$KIF")
	lladdr=$(sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p' <<<"$neigh")
	[ "$lladdr" = "${mac[$srv]}" ] && ok "ip neigh: ${ip[$srv]} at $lladdr (interface $srv's MAC)" ||
		fail "ip neigh: ${ip[$srv]} at '$lladdr', expected ${mac[$srv]} (ip neigh: '$neigh')"
	if out=$(st_udp "$SK" "${ip[$srv]}" 7 1 1472 8000 2>&1); then
		ok "kernel UDP to app $srv: $out"
	else
		fail "kernel UDP to app $srv: $out"
	fi
	for dest in "${ip[$srv]}:7" "$K:7"; do
		for size in 64 8000; do
			n=$((size == 64 ? 500 : 20))
			# shellcheck disable=SC2046
			# --lost-ms 10000: a late echo on a loaded machine is late,
			# not lost; a lost one still fails the exact counts.
			timeout -k 5 60 "$T/usnet-udpperf" $(host "$cli") -n "$n" -s "$size" --lost-ms 10000 -q --json "$dest" \
				>"$TMP/perf.json" 2>"$TMP/perf.err"
			rc=$?
			tv_sane "usnet-udpperf app $cli -> $dest" "$rc" "$TMP/perf.err"
			cp "$TMP/perf.json" "$TMP/perf.$cli.${dest%:*}.$size.json"
			tv_json "app $cli -> $dest ($n x $size bytes): all back" "$TMP/perf.json" \
				"j['sent'] == $n and j['received'] == $n and j['lost'] == 0 and j['bad'] == 0"
		done
	done
	st_echo_stop
	cp "$TMP/echo.final" "$TMP/echo.$srv.final"
	tv_json "app $srv's usnet-udpecho: echoed 3 + 2 x 520, no drop in the stack" "$TMP/echo.final" \
		"j['echoed'] == 3 + 520 and j['echo_errors'] == 0 and j['stack']['udp_bad_csum'] == 0 and j['stack']['eth_not_ours'] == 0"
done

"$CTL" --socket "$TMP/d.ctl" stats --json >"$TMP/stats.json" 2>"$TMP/ctl.err" || fail "usnetctl stats: $(cat "$TMP/ctl.err")"
tv_json "usnetctl: clients 1 and 2 sent and received, no wrong source MAC, pool whole" "$TMP/stats.json" \
	'all(c["src_mac_drops"] == 0 and c["rx_frames"] > 1000 and c["tx_frames"] > 1000 for c in j["clients"] if c["id"] in (1, 2)) and j["usnetd"]["pool_free"] == j["usnetd"]["pool_size"]'
kill -TERM "$(pgrep -P "${TV_PIDS[0]}" | head -n 1)" 2>/dev/null
tv_wait "${TV_PIDS[0]}" 10
rc=$?
tv_sane usnetd "$rc" "$TMP/usnetd.log"

[ "$fails" -eq 0 ] || [ -z "${KEEP:-}" ] || cp -r "$TMP" /tmp/stack_usnetd.keep
[ "$fails" -eq 0 ] && { echo "PASS"; exit 0; }
echo "FAILED: $fails check(s)"
exit 1
