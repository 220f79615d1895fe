#!/bin/bash
# SPDX-License-Identifier: MIT
# Hostile input against usnet's stack: usnet-udpecho on afpacket: at
# 198.18.22.2/24 (gateway: the kernel, 198.18.22.1), and scapy in the
# kernel's namespace crafting truncated Ethernet/IP/UDP/ICMP headers, bad
# checksums, IHL < 5, lengths beyond the frame, TTL 0, broadcast and
# multicast source addresses (MAC and IP), bad options, duplicate,
# overlapping and malformed fragments, a fragment flood, an ARP reply
# storm, ARP for other addresses, ARP from bad senders, gratuitous ARP
# claiming our address or stealing the gateway's, and the flood's
# reassembly time-out (30 s: the test waits for it). After each case
# (stack_hostile.py) the named counter must have moved by exactly the
# expected amount, no other verdict counter may have moved, and a kernel
# socket's datagram must still come back. At the end: the kernel's ping is
# answered, the process's memory grew by less than 32 MiB over the whole
# run (the reassembly cap is 4 MiB), and usnet-udpecho exits 0 with no
# sanitizer (leak) report.
# Usage: stack_hostile.sh BUILD_DIR     (exit 77 = skipped)
set -u
BUILD=${1:?usage: stack_hostile.sh BUILD_DIR}
. "$(dirname "$0")/tools_veth_lib.sh"
tv_init stack_hostile
. "$(dirname "$0")/stack_lib.sh"
# Debian's python3-scapy is for the system's python3, which a python3 earlier
# in PATH (pyenv, a venv) may not be.
SPY=
for p in /usr/bin/python3 python3; do
	"$p" -c 'import scapy.all' 2>/dev/null && { SPY=$p; break; }
done
[ -n "$SPY" ] || skip "python3-scapy is not installed"
K=198.18.22.1 U=198.18.22.2

st_pair sh "$K"
tv_need_afpacket "$SU" "$UIF"
umac=$(ip netns exec "$SU" cat "/sys/class/net/$UIF/address")
st_echo_start "$SU" -p "afpacket:$UIF$TV_RXOPT" --ip "$U/24" --gw "$K" -t 250 || exit 1
rss0=$(st_rss_kb)
# The kernel resolves usnet's address first, as any peer would.
tv_x "$SK" ping -c 1 -W 2 "$U" >/dev/null || fail "the kernel cannot ping $U before the test"
tv_x "$SK" "$SPY" "$(dirname "$0")/stack_hostile.py" "$KIF" "$umac" "$U" "$K" "$ECHO_TOOL" \
	"$ECHO_OUT" >"$TMP/hostile.out" 2>&1
rc=$?
cat "$TMP/hostile.out"
fails=$((fails + $(grep -c '^FAIL' "$TMP/hostile.out")))
[ "$rc" -eq 0 ] || [ "$(grep -c '^FAIL' "$TMP/hostile.out")" -gt 0 ] ||
	fail "stack_hostile.py exit status $rc"
rss1=$(st_rss_kb)
[ $((rss1 - rss0)) -lt 32768 ] && ok "memory: RSS $rss0 kB before, $rss1 kB after" ||
	fail "memory: RSS grew from $rss0 kB to $rss1 kB"
st_echo_stop
tv_json "usnet-udpecho's final JSON: it echoed, no echo refused" "$TMP/echo.final" \
	'j["stop"] == "signal" and j["echoed"] >= 30 and j["echo_errors"] == 0'

[ "$fails" -eq 0 ] && { echo "PASS"; exit 0; }
echo "FAILED: $fails check(s)"
exit 1
