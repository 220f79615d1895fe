# SPDX-License-Identifier: MIT
# Sourced by the TCP tests against the Linux kernel (tcp_veth.sh,
# tcp_many.sh) after tools_veth_lib.sh and stack_lib.sh: the kernel peer
# (tests/common/tcp_kpeer.c), usnet-tcpperf, a veth whose kernel end sends
# MSS-sized segments, and the kernel's TCP counters.
# The sourcing script sets BUILD first.

KPEER=$BUILD/tests/tcp_kpeer
PERF=$T/usnet-tcpperf
for b in "$KPEER" "$PERF"; do
	[ -x "$b" ] || { echo "FAIL: $b is not built"; exit 1; }
done
command -v nstat >/dev/null || skip "nstat (iproute2) is not installed"

# tcp_pair NAME KADDR: st_pair with the veth's default offloads. The
# kernel's TCP sends TSO/GSO segments of up to 64 KB, which usnet's
# afpacket: port receives whole and cuts up (gso=on, docs/ports.md);
# afpacket_gso.sh checks that path alone. Checksum offload stays on: the
# kernel's segments reach usnet with the checksum left to the offload
# (USNET_PKT_F_CSUM_PARTIAL), as in stack_veth.sh.
tcp_pair() {
	st_pair "$@"
}

# tcp_nstat NS: the kernel's TCP counters in NS, one "Name value" a line.
tcp_nstat() {
	tv_x "$1" nstat -asz TcpActiveOpens TcpPassiveOpens TcpAttemptFails TcpEstabResets \
		TcpInSegs TcpOutSegs TcpRetransSegs TcpInErrs TcpOutRsts TcpExtTCPLostRetransmit \
		TcpExtTCPFastRetrans TcpExtTCPSlowStartRetrans TcpExtTCPTimeouts \
		TcpExtTCPSACKRecovery TcpExtTCPSackRecoveryFail TcpExtTCPDSACKRecv \
		TcpExtTCPSACKReorder TcpExtTCPOFOQueue TcpExtTCPBacklogDrop TcpExtListenOverflows \
		TcpExtListenDrops TcpExtTCPReqQFullDrop TcpExtSyncookiesRecv TcpExtTCPAbortOnTimeout \
		TcpExtTCPAbortOnData TcpExtTCPAbortOnClose 2>/dev/null |
		awk '!/^#/ { print $1, $2 }'
}

# tcp_nstat_delta BEFORE AFTER: the counters that moved, "Name +N ...".
tcp_nstat_delta() {
	awk 'NR == FNR { a[$1] = $2; next } $2 != a[$1] { printf "%s +%d ", $1, $2 - a[$1] }' \
		<(printf '%s\n' "$1") <(printf '%s\n' "$2")
}

# tcp_nstat_get DUMP NAME: one counter's value from a tcp_nstat dump.
tcp_nstat_get() { printf '%s\n' "$1" | awk -v n="$2" '$1 == n { print $2; f = 1 } END { if (!f) print 0 }'; }

# tcp_bg TIMEOUT OUT ERR NS CMD...: like tv_bg with a timeout of its own
# (--foreground: see tv_bg).
tcp_bg() {
	local to=$1 out=$2 err=$3 ns=$4
	shift 4
	timeout --foreground -k 5 "$to" ip netns exec "$ns" "$@" >"$out" 2>"$err" &
	TV_PID=$!
	TV_PIDS+=("$TV_PID")
}

# tcp_sha FILE: the hex of the "sha256 HEX" line in FILE ("" if none).
tcp_sha() { sed -n 's/^sha256 \([0-9a-f]\{64\}\)$/\1/p' "$1" | tail -n 1; }

# tcp_json FILE: the last line of FILE that is a JSON object, as a file
# FILE.json (for tv_json).
tcp_json() { grep '^{' "$1" | tail -n 1 >"$1.json"; }

# tcp_bytes SIZE: SIZE with an optional K, M or G suffix (powers of 2), in bytes.
tcp_bytes() { python3 -c 'import sys; s=sys.argv[1]; m={"K":10,"M":20,"G":30}; print(int(s[:-1]) << m[s[-1]] if s[-1] in m else int(s))' "$1"; }

# tcp_sanitized: whether BUILD is a sanitizer build (slower: smaller sizes).
tcp_sanitized() { grep -q '^USNET_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null; }
