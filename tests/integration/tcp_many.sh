#!/bin/bash
# SPDX-License-Identifier: MIT
# Many connections: the Linux kernel opens CONNS (10000) concurrent TCP
# connections to one usnet server over a veth (namespaces of the test's
# own: the kernel at 198.18.23.1/24, usnet-tcpperf -m rr on afpacket: at
# 198.18.23.2/24), each sends one 64-byte request and reads the 64-byte
# answer, and all stay open until every one is answered
# (tcp_kpeer --many, tests/common/tcp_kpeer.c).
#
# Checks: tcp_kpeer's CONNS answered, none failed, all CONNS open at once;
# usnet-tcpperf served CONNS connections, all complete, none failed, and
# exits 0 with no sanitizer report. Memory: usnet-tcpperf's peak resident
# memory (VmHWM of /proc/PID/status) before the first connection and
# after the last is logged, with the growth per connection, and must stay
# under MAX_KB_PER_CONN (default 64 KiB, or 160 in a sanitizer build, whose
# allocator adds redzones and keeps freed memory in quarantine) per
# connection: what an idle connection holds is the stack's socket and the
# buffers of its one request and answer, not a reserved window.
#
# The kernel side, in its namespace: ephemeral ports 1024-65535
# (ip_local_port_range), RLIMIT_NOFILE raised by tcp_kpeer itself; it is
# the client, so its listen backlog (somaxconn, tcp_max_syn_backlog) plays
# no part, but usnet's does. tcp_kpeer keeps at most 250 connects in
# flight (--pending), so the SYNs come in bursts usnet's afpacket ring
# (retire_ms=50) can hold and stay within usnet's tcp_syn_backlog (256):
# no SYN cookies here (test_stack_tcp_input and tcp_hostile's SYN flood
# test those); one lost is retransmitted by the kernel after 1 s, 3 s, ...
# within --timeout. With 1000 in flight a sanitizer build on a loaded
# machine fell seconds behind (the ring dropped 3,000-25,000 frames), and a
# SYN the kernel sent again meanwhile drew a second cookie SYN-ACK whose
# duplicate ACK, no longer the handshake's, fails the cookie check and
# draws a RST that resets the kernel's connection (as Linux would answer
# it): 9 of 10000 connections failed so.
# Usage: tcp_many.sh BUILD_DIR     (exit 77 = skipped)
set -u
BUILD=${1:?usage: tcp_many.sh BUILD_DIR}
. "$(dirname "$0")/tools_veth_lib.sh"
tv_init tcp_many
. "$(dirname "$0")/stack_lib.sh"
. "$(dirname "$0")/tcp_lib.sh"
K=198.18.23.1 U=198.18.23.2 PORT=7000
CONNS=${CONNS:-10000}
if tcp_sanitized; then MAX_KB_PER_CONN=${MAX_KB_PER_CONN:-160}; else MAX_KB_PER_CONN=${MAX_KB_PER_CONN:-64}; fi

tcp_pair tm "$K"
tv_need_afpacket "$SU" "$UIF"
tv_x "$SK" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" ||
	fail "cannot widen the kernel namespace's ephemeral ports"

# --- the usnet server ----------------------------------------------------------------
tcp_bg 240 "$TMP/p.out" "$TMP/p.err" "$SU" "$PERF" -p "afpacket:$UIF$TV_RXOPT" --ip "$U/24" \
	-l "$PORT" -m rr -s 64 --conns "$CONNS" --one-off --json -i 5
ppid=$TV_PID
tv_wait_line "$TMP/p.err" "server on" || exit 1
tool=$(pgrep -P "$ppid" | head -n 1)
[ -n "$tool" ] || { fail "usnet-tcpperf's pid not found"; exit 1; }
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
hwm0=$(hwm "$tool") rss0=$(rss "$tool")
# The peak only grows; the last value read before usnet-tcpperf exits is it.
(while kill -0 "$tool" 2>/dev/null; do
	h=$(hwm "$tool") && [ -n "$h" ] && echo "$h $(rss "$tool")" >"$TMP/hwm.tmp" &&
		mv "$TMP/hwm.tmp" "$TMP/hwm"
	sleep 0.2
done) &
sampler=$!

# --- the kernel's connections ----------------------------------------------------------
n0=$(tcp_nstat "$SK")
timeout -k 5 200 ip netns exec "$SK" "$KPEER" --connect "$U:$PORT" --many "$CONNS" --pending 250 -s 64 \
	--timeout 150 -i 5 --json >"$TMP/k.out" 2>"$TMP/k.err"
krc=$?
n1=$(tcp_nstat "$SK")
cat "$TMP/k.err"
grep -v '^{' "$TMP/k.out"
tcp_json "$TMP/k.out"
[ "$krc" -eq 0 ] && ok "tcp_kpeer --many $CONNS: exit 0" || fail "tcp_kpeer --many $CONNS: exit $krc"
tv_json "kernel: $CONNS answered, none failed, all $CONNS open at once" "$TMP/k.out.json" \
	"j['answered'] == $CONNS and j['failed'] == 0 and j['unfinished'] == 0 and j['open_at_once'] == $CONNS"
echo "log: kernel nstat moved: $(tcp_nstat_delta "$n0" "$n1")"

# --- the server's end --------------------------------------------------------------------
tv_wait "$ppid" 60
rc=$?
wait "$sampler" 2>/dev/null
tv_sane usnet-tcpperf "$rc" "$TMP/p.err"
[ "$rc" -eq 0 ] && ok "usnet-tcpperf: exit 0" || fail "usnet-tcpperf: exit $rc: $(tail -n 5 "$TMP/p.err")"
tcp_json "$TMP/p.out"
tv_json "usnet-tcpperf: $CONNS connections, $CONNS complete, none failed, $CONNS requests" \
	"$TMP/p.out.json" \
	"j['conns'] == $CONNS and j['completed'] == $CONNS and j['failed'] == 0 and j['requests'] == $CONNS"
python3 - "$TMP/p.out.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
s = j.get("stack", {})
moved = {k: v for k, v in s.items() if k.startswith("tcp_") and v}
print("log: usnet's TCP counters:", " ".join(f"{k}={v}" for k, v in sorted(moved.items())))
# Frames the afpacket ring dropped (rx_dropped: the kernel found it full)
# explain retransmissions on either side.
print("log: usnet's port:", " ".join(f"{k}={v}" for k, v in sorted(j.get("port_stats", {}).items())))
EOF

# --- memory ----------------------------------------------------------------------------------
read -r hwm1 rss1 <"$TMP/hwm" 2>/dev/null
if [ -n "${hwm0:-}" ] && [ -n "${hwm1:-}" ]; then
	per=$(((hwm1 - hwm0) * 1024 / CONNS))
	echo "log: usnet-tcpperf VmHWM ${hwm0} kB before, ${hwm1} kB after $CONNS connections" \
		"(VmRSS ${rss0} -> ${rss1:-?} kB): $per bytes per connection at the peak"
	[ "$per" -le $((MAX_KB_PER_CONN * 1024)) ] &&
		ok "memory bounded: $per bytes per connection <= $MAX_KB_PER_CONN KiB" ||
		fail "memory: $per bytes per connection > $MAX_KB_PER_CONN KiB"
else
	fail "could not read usnet-tcpperf's VmHWM (before '${hwm0:-}', after '${hwm1:-}')"
fi

[ "$fails" -eq 0 ] && { echo "PASS"; exit 0; }
echo "FAILED: $fails check(s)"
exit 1
