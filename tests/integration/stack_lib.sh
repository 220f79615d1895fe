# SPDX-License-Identifier: MIT
# Sourced by the stack tests (stack_veth.sh, stack_hostile.sh,
# stack_usnetd.sh) after tools_veth_lib.sh: a kernel namespace and a usnet
# namespace joined by a veth, usnet-udpecho started in the background with
# its counters read over SIGUSR1, and Python helpers for the kernel side.
# The sourcing script sets BUILD first.

for tool in ping udpecho udpperf; do
	[ -x "$T/usnet-$tool" ] || { echo "FAIL: $T/usnet-$tool is not built"; exit 1; }
done

# st_pair NAME KADDR: namespaces ${NAME}k (kernel, KADDR/24 on veth kv$TV_ID)
# and ${NAME}u (usnet's side, uv$TV_ID without an address). Sets SK, SU, KIF, UIF.
# The kernel's veth keeps its checksum offload: its UDP frames reach
# usnet's AF_PACKET socket with the checksum left to the offload
# (CHECKSUM_PARTIAL), which the afpacket port flags for the stack
# (USNET_PKT_F_CSUM_PARTIAL); every test asserts no udp_bad_csum.
st_pair() {
	SK=${1}k$TV_ID SU=${1}u$TV_ID KIF=kv$TV_ID UIF=uv$TV_ID
	tv_ns "$SK"
	tv_ns "$SU"
	tv_veth "$SK" "$KIF" "$SU" "$UIF"
	ip -n "$SK" addr add "$2/24" dev "$KIF"
	# The kernel side must not answer for anything on usnet's side.
	ip netns exec "$SU" sysctl -qw net.ipv4.conf.all.arp_ignore=8
}

# st_no_tx_csum NS IF: make the kernel compute the checksums of what it
# sends on IF (`ethtool -K IF tx off`, by ETHTOOL_STXCSUM through
# SIOCETHTOOL, linux/ethtool.h: ethtool is not installed). For paths that
# cannot carry "checksum left to the offload" to the stack: usnetd copies a
# frame from its afpacket uplink into a memif ring, and memif descriptors
# have no such flag, so its clients would see the partial checksum as bad.
st_no_tx_csum() {
	tv_x "$1" python3 - "$2" <<'EOF' || fail "cannot turn off TX checksum offload on $2"
import ctypes, fcntl, socket, struct, sys
ETHTOOL_STXCSUM, SIOCETHTOOL = 0x17, 0x8946
val = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 0))
ifr = struct.pack("16sP", sys.argv[1].encode(), ctypes.addressof(val)).ljust(40, b"\0")
fcntl.ioctl(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), SIOCETHTOOL, ifr)
EOF
}

# st_mac NS IF: the interface's MAC.
st_mac() { cat "/sys/class/net/$2/address" 2>/dev/null || ip netns exec "$1" cat "/sys/class/net/$2/address"; }

# st_echo_start NS ARGS...: usnet-udpecho --json in the background; waits
# until it answers SIGUSR1. Sets ECHO_PID (timeout(1), to wait for), ECHO_TOOL
# (usnet-udpecho itself, which `ip netns exec` became: to signal), ECHO_OUT,
# ECHO_ERR.
st_echo_start() {
	local ns=$1
	shift
	ECHO_OUT=$TMP/echo.$RANDOM.out ECHO_ERR=$TMP/echo.$RANDOM.err
	tv_bg "$ECHO_OUT" "$ECHO_ERR" "$ns" "$T/usnet-udpecho" --json "$@"
	ECHO_PID=$TV_PID ECHO_TOOL=
	# timeout(1) would die of a SIGUSR1: signal its child, once the child
	# has become usnet-udpecho and printed its startup line.
	for _ in $(seq 100); do
		grep -q "echoing UDP port" "$ECHO_ERR" 2>/dev/null && break
		kill -0 "$ECHO_PID" 2>/dev/null || break
		sleep 0.1
	done
	ECHO_TOOL=$(pgrep -P "$ECHO_PID" | head -n 1)
	if [ -z "$ECHO_TOOL" ] || ! grep -q "echoing UDP port" "$ECHO_ERR"; then
		fail "usnet-udpecho did not start: $(head -c 600 "$ECHO_ERR")"
		return 1
	fi
	st_dump >/dev/null || { fail "usnet-udpecho does not answer SIGUSR1"; return 1; }
}

# st_rss_kb: usnet-udpecho's resident memory now.
st_rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$ECHO_TOOL/status"; }

# st_dump: ask the running usnet-udpecho for its counters (SIGUSR1); prints
# the JSON line (also saved as $TMP/dump.N). Bounded: 10 s.
st_dump() {
	local before after
	before=$(wc -l <"$ECHO_OUT" 2>/dev/null || echo 0)
	for _ in $(seq 100); do
		kill -USR1 "$ECHO_TOOL" 2>/dev/null || return 1
		sleep 0.1
		after=$(wc -l <"$ECHO_OUT")
		[ "$after" -gt "$before" ] && break
	done
	[ "$after" -gt "$before" ] || return 1
	sed -n "${after}p" "$ECHO_OUT"
}

# st_echo_stop: SIGINT, wait (10 s), check the exit status and stderr;
# the final JSON is the last line of $ECHO_OUT, copied to $TMP/echo.final.
st_echo_stop() {
	local rc
	kill -INT "$ECHO_PID" 2>/dev/null
	tv_wait "$ECHO_PID" 10
	rc=$?
	[ "$rc" -eq 0 ] || fail "usnet-udpecho exit status $rc: $(tail -n 5 "$ECHO_ERR")"
	tv_sane usnet-udpecho "$rc" "$ECHO_ERR"
	tail -n 1 "$ECHO_OUT" >"$TMP/echo.final"
}

# st_udp NS ADDR PORT SIZE...: a kernel UDP socket sends one datagram of each
# SIZE to ADDR:PORT and must get the same bytes back within 3 s. Prints a line.
st_udp() {
	local ns=$1
	shift
	tv_x "$ns" python3 - "$@" <<'EOF'
import socket, sys
addr, port, sizes = sys.argv[1], int(sys.argv[2]), [int(x) for x in sys.argv[3:]]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
for i, n in enumerate(sizes):
    data = bytes((i * 131 + k * 7) & 0xff for k in range(n))
    s.sendto(data, (addr, port))
    try:
        back, peer = s.recvfrom(70000)
    except socket.timeout:
        sys.exit(f"no echo of the {n}-byte datagram within 3 s")
    if back != data or peer != (addr, port):
        sys.exit(f"{n}-byte datagram: {len(back)} bytes back from {peer}, different")
print(f"{len(sizes)} datagrams echoed: sizes {' '.join(map(str, sizes))}")
EOF
}

# st_delta BEFORE AFTER EXPR: a Python condition over d (AFTER["stack"] minus
# BEFORE["stack"], per counter), a and b (the two objects). Prints the result.
st_delta() {
	python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
d = {k: b["stack"][k] - a["stack"].get(k, 0) for k in b["stack"]}
print(bool(eval(sys.argv[3])))
EOF
}

# st_moved WHAT BEFORE AFTER 'name=N ...': each named counter moved by exactly
# N, and no other "drop" counter moved at all (the list of the stack's drop
# counters is read from the stack's own descriptions through usnet-udpecho's
# JSON: every counter not in the always-moving set below).
st_moved() {
	local what=$1 r
	r=$(python3 - "$2" "$3" "$4" <<'EOF'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
want = dict((k, int(v)) for k, v in (x.split("=") for x in sys.argv[3].split()))
d = {k: b["stack"][k] - a["stack"].get(k, 0) for k in b["stack"]}
# Counters that count ordinary traffic (the barrier echo, ARP refreshes),
# not a verdict on the hostile frames.
busy = {"rx_frames", "rx_bytes", "tx_frames", "tx_bytes", "ip_rx", "ip_tx", "udp_rx", "udp_tx",
        "arp_rx_request", "arp_rx_reply", "arp_tx_request", "arp_tx_reply", "icmp_rx",
        "icmp_rx_echo_request", "icmp_tx_echo_reply", "ip_frag_rx", "ip_tx_frag",
        "arp_tx_gratuitous"}
bad = [f"{k} moved by {d.get(k)} (want {v})" for k, v in want.items() if d.get(k) != v]
bad += [f"{k} moved by {v} (want 0)" for k, v in d.items() if v and k not in want and k not in busy]
print("; ".join(bad) if bad else "OK " + ", ".join(f"{k} +{v}" for k, v in want.items()))
EOF
)
	case $r in
	OK*) ok "$what: ${r#OK }" ;;
	*) fail "$what: $r" ;;
	esac
}

