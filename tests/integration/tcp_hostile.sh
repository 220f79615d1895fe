#!/bin/bash
# SPDX-License-Identifier: MIT
# A hostile TCP peer against usnet's TCP: tcp_target (tests/integration/
# tcp_target.c: echo on port 7, discard on 9, an endless source on 19) on afpacket:
# at 198.18.23.2/24 (gateway: the kernel, 198.18.23.1), and scapy in the
# kernel's namespace (tcp_hostile.py) playing a peer at 198.18.23.3, an
# address the kernel does not own (so the kernel never answers usnet's
# segments with resets): malformed headers and options, out-of-window
# segments, the blind RST/SYN/data attacks of RFC 5961, PAWS, a SYN flood
# from random sources (SYN cookies) while a kernel client connects, a zero
# window that never opens, and a peer that vanishes (mid-transfer: the
# retransmissions run out; idle: the keepalive probes do). Each case
# checks a counter and what usnet answered on the wire; a kernel TCP
# connection must be served after each one. At the end: tcp_target's
# memory grew by less than 64 MiB over the whole run, and it exits 0 with
# no sanitizer (leak) report.
# The target's conf makes the timeouts short: SYN backlog 16 (cookies
# beyond), 5 retransmissions with the RTO at most 1 s, keepalive on the
# discard port after 1 s idle, 3 probes 0.5 s apart.
# Usage: tcp_hostile.sh BUILD_DIR     (exit 77 = skipped)
set -u
BUILD=${1:?usage: tcp_hostile.sh BUILD_DIR}
. "$(dirname "$0")/tools_veth_lib.sh"
tv_init tcp_hostile
. "$(dirname "$0")/stack_lib.sh"
TARGET=$BUILD/tests/tcp_target
[ -x "$TARGET" ] || { echo "FAIL: $TARGET is not built"; exit 1; }
# Debian's python3-scapy is for the system's python3, which a python3 earlier
# in PATH (pyenv, a venv) may not be.
SPY=
for p in /usr/bin/python3 python3; do
	"$p" -c 'import scapy.all' 2>/dev/null && { SPY=$p; break; }
done
[ -n "$SPY" ] || skip "python3-scapy is not installed"
K=198.18.23.1 U=198.18.23.2 EVIL=198.18.23.3

st_pair th "$K"
tv_need_afpacket "$SU" "$UIF"
umac=$(ip netns exec "$SU" cat "/sys/class/net/$UIF/address")
# The kernel must not forward (it drops what usnet sends to the addresses
# scapy plays, without an ICMP error).
ip netns exec "$SK" sysctl -qw net.ipv4.ip_forward=0

OUT=$TMP/target.out ERR=$TMP/target.err
# --foreground: stopped with SIGINT below (see tv_bg in tools_veth_lib.sh).
timeout --foreground -k 5 280 ip netns exec "$SU" "$TARGET" -p "afpacket:$UIF$TV_RXOPT" --ip "$U/24" \
	--gw "$K" --syn-backlog 16 --retries 5 --max-rto 1000 --keepalive 1000,500,3 -t 270 >"$OUT" 2>"$ERR" &
TPID=$!
TV_PIDS+=("$TPID")
tv_wait_line "$ERR" "listening on ports" || exit 1
TOOL=$(pgrep -P "$TPID" | head -n 1)
[ -n "$TOOL" ] || { fail "tcp_target did not start: $(head -c 600 "$ERR")"; exit 1; }
rss0=$(awk '/^VmRSS:/ {print $2}' "/proc/$TOOL/status")
tv_x "$SK" ping -c 1 -W 2 "$U" >/dev/null || fail "the kernel cannot ping $U before the test"
tv_x "$SK" "$SPY" "$(dirname "$0")/tcp_hostile.py" "$KIF" "$umac" "$U" "$K" "$EVIL" "$TOOL" \
	"$OUT" >"$TMP/hostile.out" 2>&1
rc=$?
cat "$TMP/hostile.out"
nf=$(grep -c '^FAIL' "$TMP/hostile.out")
fails=$((fails + nf))
[ "$rc" -eq 0 ] || [ "$nf" -gt 0 ] || fail "tcp_hostile.py exit status $rc"
rss1=$(awk '/^VmRSS:/ {print $2}' "/proc/$TOOL/status")
[ $((rss1 - rss0)) -lt 65536 ] && ok "memory: RSS $rss0 kB before, $rss1 kB after" ||
	fail "memory: RSS grew from $rss0 kB to $rss1 kB"
kill -INT "$TPID" 2>/dev/null
tv_wait "$TPID" 20
rc=$?
[ "$rc" -eq 0 ] || fail "tcp_target exit status $rc: $(tail -n 5 "$ERR")"
tv_sane tcp_target "$rc" "$ERR"
tail -n 1 "$OUT" >"$TMP/final"
echo "tcp_target at the end: $(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["target"])' "$TMP/final")"
tv_json "tcp_target stopped on the signal, nothing failed on its side" "$TMP/final" \
	'j["stop"] == "signal" and j["target"]["other"] == 0 and j["target"]["accepted"] >= 7'

[ "$fails" -eq 0 ] && { echo "PASS"; exit 0; }
echo "FAILED: $fails check(s)"
exit 1
