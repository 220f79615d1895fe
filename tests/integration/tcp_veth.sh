#!/bin/bash
# SPDX-License-Identifier: MIT
# usnet's TCP against the Linux kernel's over a veth (MTU 1500), in two
# namespaces of the test's own: the kernel at 198.18.22.1/24 (tcp_kpeer,
# tests/common/tcp_kpeer.c), usnet at 198.18.22.2/24 (usnet-tcpperf on
# afpacket:). The byte stream is tools/tcp_pattern.h's on both ends.
#
#  0. tcp_kpeer itself: its pattern and SHA-256 agree with an independent
#     Python computation (1 MiB + 3 bytes, kernel to kernel over the veth's
#     kernel namespace's loopback), so a match below means the right bytes.
#  1. usnet client -> kernel server: BYTES of the stream; the kernel
#     compares every byte it receives with the pattern (--verify), and the
#     SHA-256 usnet-tcpperf sent equals the one the kernel received.
#  2. kernel client -> usnet server: BYTES the other way, SHA-256 equal.
#  3. Congestion control: usnet sends CC_BYTES with --cc newreno, then
#     with --cc cubic (the default, named), to the kernel; the kernel
#     sends CC_BYTES with TCP_CONGESTION reno to usnet.
# Each run logs its throughput (usnet-tcpperf --json and tcp_kpeer's),
# usnet's retransmissions, and the kernel's: tcp_kpeer's TCP_INFO, an
# `ss -tin` sample in the middle of the transfer, and the nstat counters of
# the kernel's namespace that moved. Every tool exits 0 with no sanitizer
# report. Speed is not asserted (bench/tcp_bulk.sh measures it).
#
# Sizes: BYTES (default 1G, or 64M in a sanitizer build, where 1 GiB
# does not fit the test's time budget: bench/tcp_bulk.sh runs 1 GiB each way
# with the Release build) and CC_BYTES (BYTES / 4). The SHA-256 check is
# the same at every size.
# Usage: tcp_veth.sh BUILD_DIR     (exit 77 = skipped)
set -u
BUILD=${1:?usage: tcp_veth.sh BUILD_DIR}
. "$(dirname "$0")/tools_veth_lib.sh"
tv_init tcp_veth
. "$(dirname "$0")/stack_lib.sh"
. "$(dirname "$0")/tcp_lib.sh"
K=198.18.22.1 U=198.18.22.2
if tcp_sanitized; then BYTES=${BYTES:-64M}; else BYTES=${BYTES:-1G}; fi
N=$(tcp_bytes "$BYTES")
CC_BYTES=${CC_BYTES:-$((N / 4))}
# Each transfer is bounded: 600 s is far beyond what any build needs for
# 1 GiB here; ctest's own TIMEOUT bounds the whole.
XT=600

tcp_pair tv "$K"
tv_need_afpacket "$SU" "$UIF"
echo "sizes: $N bytes each way, $CC_BYTES per congestion-control run ($(tcp_sanitized && echo sanitizer || echo plain) build)"

# --- 0. the pattern and SHA-256 of tcp_kpeer ------------------------------------
want=$(python3 - <<'EOF'
import hashlib
M, x, out, n = (1 << 64) - 1, 0x75736E6574, bytearray(), (1 << 20) + 3
while len(out) < n:
    x ^= x >> 12; x ^= (x << 25) & M; x ^= x >> 27
    out += ((x * 0x2545F4914F6CDD1D) & M).to_bytes(8, "little")
print(hashlib.sha256(bytes(out[:n])).hexdigest())
EOF
)
tcp_bg 60 "$TMP/k0.srv" "$TMP/k0.srv.err" "$SK" "$KPEER" --listen 127.0.0.1:4999 -m recv \
	--sha256 --verify -n $(((1 << 20) + 3)) -q --timeout 20
k0=$TV_PID
tv_wait_line "$TMP/k0.srv.err" "listening"
tv_x "$SK" "$KPEER" --connect 127.0.0.1:4999 -n $(((1 << 20) + 3)) --sha256 -q --timeout 20 \
	>"$TMP/k0.cli" 2>&1
rc=$?
tv_wait "$k0" 20
rc0=$?
if [ "$rc" -eq 0 ] && [ "$rc0" -eq 0 ] && [ "$(tcp_sha "$TMP/k0.cli")" = "$want" ] &&
	[ "$(tcp_sha "$TMP/k0.srv")" = "$want" ]; then
	ok "tcp_kpeer's stream: sha256 of 1 MiB + 3 bytes is Python's ($want)"
else
	fail "tcp_kpeer's stream: exit $rc/$rc0, sent $(tcp_sha "$TMP/k0.cli"), received $(tcp_sha "$TMP/k0.srv"), Python $want: $(cat "$TMP/k0.srv.err")"
fi

# ss_sample NS OUT: one `ss -tin` of the established connections after 1 s.
ss_sample() {
	(sleep 1 && tv_x "$1" ss -tin state established >"$2" 2>&1) &
	SS_PID=$!
}

# report LABEL PERF_OUT KPEER_OUT SS_OUT NSTAT_BEFORE NSTAT_AFTER: the log lines.
report() {
	local label=$1 j k
	j=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("usnet-tcpperf: %.3f Gbit/s in %.2f s, retransmits %s, rtt %s, cwnd %s" % (j.get("gbps", 0), j.get("seconds", 0), j.get("retransmits"), j.get("rtt_us", j.get("rtt")), j.get("cwnd")))' "$2.json" 2>&1)
	k=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("tcp_kpeer: %.3f Gbit/s, kernel retransmits %s, rtt %s us, cwnd %s, segs out/in %s/%s" % (j["gbps"], j["retransmits"], j["rtt_us"], j["cwnd"], j["segs_out"], j["segs_in"]))' "$3.json" 2>&1)
	echo "log: $label: $j"
	echo "log: $label: $k"
	echo "log: $label: kernel nstat moved: $(tcp_nstat_delta "$5" "$6")"
	echo "log: $label: ss -tin (kernel side, 1 s in): $(grep -v '^Recv-Q' "$4" 2>/dev/null | tr -s ' \t\n' ' ' | head -c 700)"
}

# to_kernel LABEL SIZE PORT PERF_ARGS...: usnet-tcpperf sends SIZE bytes to tcp_kpeer.
to_kernel() {
	local label=$1 size=$2 port=$3 n0 n1 rc krc kpid
	shift 3
	n0=$(tcp_nstat "$SK")
	tcp_bg $XT "$TMP/k.$port" "$TMP/k.$port.err" "$SK" "$KPEER" --listen "$K:$port" -m recv \
		--sha256 --verify -n "$size" --json -q --timeout 30 "${KARGS[@]}"
	kpid=$TV_PID
	tv_wait_line "$TMP/k.$port.err" "listening" || return
	ss_sample "$SK" "$TMP/ss.$port"
	timeout -k 5 $XT ip netns exec "$SU" "$PERF" -p "afpacket:$UIF" --ip "$U/24" \
		-c "$K:$port" -n "$size" --sha256 --json -q "$@" >"$TMP/p.$port" 2>"$TMP/p.$port.err"
	rc=$?
	tv_wait "$kpid" 30
	krc=$?
	wait "$SS_PID" 2>/dev/null
	n1=$(tcp_nstat "$SK")
	tcp_json "$TMP/p.$port"
	tcp_json "$TMP/k.$port"
	tv_sane "usnet-tcpperf ($label)" "$rc" "$TMP/p.$port.err"
	check "$label" "$size" "$rc" "$krc" "$TMP/p.$port" "$TMP/k.$port"
	report "$label" "$TMP/p.$port" "$TMP/k.$port" "$TMP/ss.$port" "$n0" "$n1"
}

# from_kernel LABEL SIZE PORT KPEER_ARGS...: tcp_kpeer sends SIZE bytes to usnet-tcpperf.
from_kernel() {
	local label=$1 size=$2 port=$3 n0 n1 rc krc ppid
	shift 3
	n0=$(tcp_nstat "$SK")
	tcp_bg $XT "$TMP/p.$port" "$TMP/p.$port.err" "$SU" "$PERF" -p "afpacket:$UIF" \
		--ip "$U/24" -l "$port" -m recv --sha256 --json --one-off -n "$size"
	ppid=$TV_PID
	wait_listen "$port" || return
	ss_sample "$SK" "$TMP/ss.$port"
	timeout -k 5 $XT ip netns exec "$SK" "$KPEER" --connect "$U:$port" -n "$size" --sha256 --json -q \
		--timeout 30 "$@" >"$TMP/k.$port" 2>"$TMP/k.$port.err"
	krc=$?
	tv_wait "$ppid" 30
	rc=$?
	wait "$SS_PID" 2>/dev/null
	n1=$(tcp_nstat "$SK")
	tcp_json "$TMP/p.$port"
	tcp_json "$TMP/k.$port"
	tv_sane "usnet-tcpperf ($label)" "$rc" "$TMP/p.$port.err"
	check "$label" "$size" "$rc" "$krc" "$TMP/p.$port" "$TMP/k.$port"
	report "$label" "$TMP/p.$port" "$TMP/k.$port" "$TMP/ss.$port" "$n0" "$n1"
}

# wait_listen PORT: until usnet-tcpperf's stderr says it serves (10 s; its
# startup line "recv server on ..." comes once it listens). A probe
# connection would be served in place of the transfer.
wait_listen() {
	for _ in $(seq 100); do
		grep -q "server on" "$TMP/p.$1.err" 2>/dev/null && return 0
		kill -0 "$TV_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail "usnet-tcpperf -l $1 did not say it listens within 10 s: $(head -c 600 "$TMP/p.$1.err")"
	return 1
}

# check LABEL SIZE RC KRC PERF_OUT KPEER_OUT: both exit 0, SIZE bytes, SHA-256 equal.
check() {
	local sp sk
	# usnet-tcpperf --json puts the digest in its JSON ("sha256": [HEX]).
	sp=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sha256"][0])' "$5.json" 2>/dev/null)
	sk=$(tcp_sha "$6")
	if [ "$3" -eq 0 ] && [ "$4" -eq 0 ] && [ -n "$sp" ] && [ "$sp" = "$sk" ]; then
		ok "$1: $2 bytes, sha256 equal on both ends ($sp)"
	else
		fail "$1: usnet-tcpperf exit $3, tcp_kpeer exit $4, sha256 usnet '$sp' kernel '$sk': $(tail -n 3 "$5.err" "$6.err" 2>/dev/null | tr '\n' ' ')"
	fi
	tv_json "$1: tcp_kpeer counted $2 bytes, no error" "$6.json" "j['bytes'] == $2 and j['error'] is None"
	tv_json "$1: usnet-tcpperf counted $2 bytes" "$5.json" "j['bytes'] == $2"
}

KARGS=()
# --- 1. usnet client -> kernel server -----------------------------------------------
to_kernel "usnet -> kernel" "$N" 5001
# --- 2. kernel client -> usnet server -----------------------------------------------
from_kernel "kernel -> usnet" "$N" 5002
# --- 3. congestion control ------------------------------------------------------------
to_kernel "usnet -> kernel, --cc newreno" "$CC_BYTES" 5003 --cc newreno
to_kernel "usnet -> kernel, --cc cubic" "$CC_BYTES" 5004 --cc cubic
from_kernel "kernel (reno) -> usnet" "$CC_BYTES" 5005 --cc reno

[ "$fails" -eq 0 ] && { echo "PASS"; exit 0; }
echo "FAILED: $fails check(s)"
exit 1
