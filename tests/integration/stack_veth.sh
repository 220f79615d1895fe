#!/bin/bash
# SPDX-License-Identifier: MIT
# usnet's stack against the Linux kernel's over a veth (MTU 1500), in two
# namespaces of the test's own: the kernel at 198.18.20.1/24, usnet at
# 198.18.20.2/24 on afpacket:.
#
#  1. usnet-udpecho (zero copy) answers: the kernel's ping (10 of 10; 8000
#     and 60000-byte pings, so each side reassembles the other's fragments);
#     `ip neigh` then holds the veth's MAC for 198.18.20.2; a kernel UDP
#     socket gets back 1, 1472, 1473, 8000, 60000 and 65507-byte datagrams
#     unchanged; a connected kernel socket sending to a closed port gets
#     ECONNREFUSED (usnet's ICMP port unreachable). Its counters say exactly
#     that: ip_reasm_ok, ip_tx_frag, udp_no_port 1, icmp_tx_unreach 1, and
#     no drop.
#  2. The same datagrams through usnet-udpecho --copy (the socket-like API).
#  3. usnet-ping pings the kernel: 5 of 5 with 56 bytes, 3 of 3 with 8000
#     and 60000 bytes (the kernel's replies come fragmented).
#  4. usnet-udpperf to a kernel UDP echo server (bench's kernel_udpecho):
#     ping-pong 200 x 64 bytes, 20 x 8000 and 10 x 60000 bytes (both ways
#     fragmented), throughput 2000 x 512 bytes; nothing lost.
#  5. usnet-udpperf to a port nobody listens on: exit 1, "Connection refused".
#  6. docs/stack.md's example program (examples/udp_echo.c) echoes the
#     kernel's 1, 1473 and 8000-byte datagrams and stops on SIGTERM with 0.
# Every tool exits 0 with no sanitizer report.
# Usage: stack_veth.sh BUILD_DIR     (exit 77 = skipped)
set -u
BUILD=${1:?usage: stack_veth.sh BUILD_DIR}
. "$(dirname "$0")/tools_veth_lib.sh"
tv_init stack_veth
. "$(dirname "$0")/stack_lib.sh"
KUE=$BUILD/bench/kernel_udpecho
[ -x "$KUE" ] || { echo "FAIL: $KUE is not built"; exit 1; }
K=198.18.20.1 U=198.18.20.2

st_pair sv "$K"
tv_need_afpacket "$SU" "$UIF"
umac=$(ip netns exec "$SU" cat "/sys/class/net/$UIF/address")

# --- 1. the kernel as the client of usnet-udpecho ------------------------------
st_echo_start "$SU" -p "afpacket:$UIF" --ip "$U/24" -t 100 || exit 1
d0=$(st_dump)
if out=$(tv_ping "$SK" 10 "$U"); then
	ok "kernel ping: $out"
else
	fail "kernel ping: $out"
fi
neigh=$(ip -n "$SK" neigh show "$U" dev "$KIF")
lladdr=$(sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p' <<<"$neigh")
[ "$lladdr" = "$umac" ] && ok "ip neigh: $U lladdr $lladdr (usnet's)" ||
	fail "ip neigh: $U lladdr '$lladdr', expected $umac (ip neigh: '$neigh')"
for size in 8000 60000; do
	if out=$(tv_ping "$SK" 3 "$U" -s "$size"); then
		ok "kernel ping -s $size (fragmented both ways): $out"
	else
		fail "kernel ping -s $size: $out"
	fi
done
sizes="1 1472 1473 8000 60000 65507"
if out=$(st_udp "$SK" "$U" 7 $sizes 2>&1); then ok "kernel UDP client: $out"; else fail "kernel UDP client: $out"; fi
if out=$(tv_x "$SK" python3 - "$U" <<'EOF' 2>&1
import errno, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect((sys.argv[1], 9))
s.send(b"anyone there?")
try:
    s.recv(100)
    sys.exit("got an answer from port 9")
except ConnectionRefusedError:
    print("ECONNREFUSED from a connected socket after sending to port 9")
except socket.timeout:
    sys.exit("no ICMP port unreachable within 3 s")
EOF
); then ok "$out"; else fail "port unreachable: $out"; fi
d1=$(st_dump)
# Exact: ping 10 + 3 + 3 echo replies; 6 datagrams echoed; the kernel's
# 8000-byte datagrams come in 6 fragments, 60000 in 41, 65507 in 45, 1473 in 2.
st_moved "usnet-udpecho counters" "$d0" "$d1" \
	"icmp_tx_echo_reply=16 udp_no_port=1 icmp_tx_unreach=1 ip_reasm_ok=10"
r=$(st_delta "$d0" "$d1" 'd["ip_frag_rx"] == 3*6 + 3*41 + 2 + 6 + 41 + 45 and d["ip_tx_frag"] == d["ip_frag_rx"]')
[ "$r" = True ] && ok "fragments received and sent: 235 each way" ||
	fail "fragment counts: $(st_delta "$d0" "$d1" 'print(d["ip_frag_rx"], d["ip_tx_frag"]) or False')"
st_echo_stop
tv_json "final JSON: 6 datagrams echoed, 4 zero copy + 2 reassembled copied" "$TMP/echo.final" \
	'j["stop"] == "signal" and j["datagrams"] == 6 and j["echoed"] == 6 and j["zero_copy"] == 2 and j["copied"] == 4 and j["echo_errors"] == 0'

# --- 2. the socket-like API ------------------------------------------------------
st_echo_start "$SU" -p "afpacket:$UIF" --ip "$U/24" -t 100 --copy -P 4000 || exit 1
if out=$(st_udp "$SK" "$U" 4000 $sizes 2>&1); then ok "--copy: $out"; else fail "--copy: $out"; fi
st_echo_stop
tv_json "--copy JSON: 6 copied" "$TMP/echo.final" 'j["copied"] == 6 and j["zero_copy"] == 0'

# --- 3. usnet-ping to the kernel -------------------------------------------------
for args in "-c 5 -i 0.05" "-c 3 -i 0.2 -s 8000" "-c 3 -i 0.2 -s 60000"; do
	n=${args#-c }
	n=${n%% *}
	# shellcheck disable=SC2086
	tv_x "$SU" "$T/usnet-ping" -p "afpacket:$UIF" --ip "$U/24" $args -W 3 --json "$K" \
		>"$TMP/ping.json" 2>"$TMP/ping.err"
	rc=$?
	tv_sane "usnet-ping $args" "$rc" "$TMP/ping.err"
	tv_json "usnet-ping $args: $n of $n" "$TMP/ping.json" \
		"j['transmitted'] == $n and j['received'] == $n and j['duplicates'] == 0 and j['corrupt'] == 0 and j['rtt_us']['p50'] > 0"
done
# A datagram of 41 fragments to a neighbour not yet resolved must wait for
# ARP whole: a queue shorter than that loses it (arp_queue_drop).
echo "note: usnet-ping -s 60000: arp_queue_drop $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["stack"]["arp_queue_drop"])' "$TMP/ping.json")"
tv_json "usnet-ping -s 60000: reassembled the kernel's 3 replies" "$TMP/ping.json" \
	'j["stack"]["ip_reasm_ok"] == 3 and j["stack"]["ip_tx_frag"] == 3 * 41'

# --- 4. usnet-udpperf to the kernel's echo server ------------------------------
tv_bg "$TMP/kue.out" "$TMP/kue.err" "$SK" "$KUE" -a "$K" -p 7 -t 60
kue=$TV_PID
tv_wait_line "$TMP/kue.err" "echoing on"
# --lost-ms 10000: a late echo on a loaded machine is late, not lost (speed
# is for bench/udp_stack.sh); a lost one still fails the exact counts.
for args in "-n 200 -s 64" "-n 20 -s 8000" "-n 10 -s 60000" "-m throughput -n 2000 -s 512 -w 32"; do
	n=${args#*-n }
	n=${n%% *}
	# shellcheck disable=SC2086
	tv_x "$SU" "$T/usnet-udpperf" -p "afpacket:$UIF$TV_RXOPT" --ip "$U/24" $args --lost-ms 10000 -q --json "$K:7" \
		>"$TMP/perf.json" 2>"$TMP/perf.err"
	rc=$?
	tv_sane "usnet-udpperf $args" "$rc" "$TMP/perf.err"
	tv_json "usnet-udpperf $args: $n sent, $n back" "$TMP/perf.json" \
		"j['sent'] == $n and j['received'] == $n and j['lost'] == 0 and j['bad'] == 0 and j['error'] is None"
done
kill -INT "$kue"

# --- 5. refused --------------------------------------------------------------------
tv_x "$SU" "$T/usnet-udpperf" -p "afpacket:$UIF" --ip "$U/24" -n 5 -q --json "$K:9" \
	>"$TMP/perf.json" 2>"$TMP/perf.err"
rc=$?
[ "$rc" -eq 1 ] && ok "usnet-udpperf to a closed port: exit 1" || fail "usnet-udpperf to a closed port: exit $rc"
tv_json "... with error 'Connection refused'" "$TMP/perf.json" \
	'j["error"] == "Connection refused" and j["stop"] == "error" and j["stack"]["icmp_rx_unreach"] == 1'

# --- 6. the documented example ---------------------------------------------------
EX=$BUILD/examples/udp_echo
if [ -x "$EX" ]; then
	tv_bg "$TMP/ex.out" "$TMP/ex.err" "$SU" "$EX" "afpacket:$UIF" "$U/24" "$K" 5555
	ex=$TV_PID
	sleep 1
	if out=$(st_udp "$SK" "$U" 5555 1 1473 8000 2>&1); then ok "docs/stack.md example: $out"; else fail "docs/stack.md example: $out"; fi
	kill -TERM "$(pgrep -P "$ex" | head -n 1)" 2>/dev/null
	tv_wait "$ex" 10
	rc=$?
	[ "$rc" -eq 0 ] && grep -q "^udp_rx" "$TMP/ex.out" && ok "docs/stack.md example: exit 0 with its counters" ||
		fail "docs/stack.md example: exit $rc: $(tail -n 3 "$TMP/ex.err")"
	tv_sane "docs/stack.md example" "$rc" "$TMP/ex.err"
else
	fail "$EX is not built"
fi

[ "$fails" -eq 0 ] && { echo "PASS"; exit 0; }
echo "FAILED: $fails check(s)"
exit 1
