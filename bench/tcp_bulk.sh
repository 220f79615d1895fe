#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# TCP bulk throughput per CPU-second (bench/README.md, "TCP"). Not a test.
# Needs root (namespaces, veth).
#
#  A. usnet -> usnet through usnetd (memif): usnet-tcpperf -c (sender) and
#     usnet-tcpperf -l (receiver), both on cpu 0 and sleeping when idle
#     (--sleep), usnetd -c 1 -U null: on cpu 1 (it spins 100 us after a
#     frame, then sleeps). BUSY=1 also runs the sender busy-polling.
#  B. Linux -> Linux between two namespaces over a veth (TSO/GSO on, the
#     kernel's own default): tcp_kpeer -m send (cpu 0) -> tcp_kpeer -m recv
#     (cpu 1); the kernel's default congestion control (here bbr) is used
#     unless KCC says otherwise (KCC=cubic).
#     The same over a second veth with TSO, GSO and GRO off (veth-nogso):
#     1500-byte frames through the kernel, as usnet's through usnetd.
#  C. The same over loopback in one namespace.
# Each run: SECS seconds of the stream (tools/tcp_pattern.h, no SHA-256),
# Gbit/s = the receiver's bytes over its seconds; CPU-seconds = user +
# system time of sender and receiver (getrusage of each) plus, for A, usnetd's over the run (/proc/PID/stat).
# The kernel's softirq work charged to whoever ran when it fired is in
# some process's system time or in none: the kernel's figure can only be
# flattered by that, not usnet's. ROUNDS rounds alternate A, B, C.
#
#  D. FULL=1 (default): the 1 GiB interop of tests/integration/tcp_veth.sh
#     with this (Release) build, both directions with SHA-256, whose
#     sanitizer-build ctest moves less (see that script).
#
#   sudo bench/tcp_bulk.sh BUILD_DIR
#
# Each run of A also prints an ACCT line: data segments, ACKs, and for
# sender, receiver and usnetd the user+system microseconds and the
# voluntary+involuntary context switches per 1000 segments.
#
# Environment: SECS (5), ROUNDS (3), BUSY (0), KCC (kernel default),
# FULL (1), PARTS ("A B C": which of A, B, C to run; "A B" for usnet
# against the veth alone). Output: per-run RESULT and ACCT lines and a
# table.
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3}
BUSY=${BUSY:-0}
FULL=${FULL:-1}
PARTS=${PARTS:-A B C}
KCC=${KCC:-}
PERF=$BUILD/tools/usnet-tcpperf
KPEER=$BUILD/tests/tcp_kpeer
USNETD=$BUILD/daemon/usnetd
ID=$(($$ % 10000))
NA=tba$ID NB=tbb$ID
source "$HERE/lib.sh"
bench_init tcp_bulk INT "$NA" "$NB"
for b in "$PERF" "$KPEER" "$USNETD"; do [ -x "$b" ] || die "$b not built"; done
btype=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)
[ "$btype" = Release ] || echo "warning: $BUILD is a '$btype' build; numbers are meant for Release" >&2

# usnetd's user and system seconds and its voluntary and involuntary
# context switches so far, as a .cpu file has them.
proc_acct() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%f %f ", $14 / hz, $15 / hz }' "/proc/$1/stat"
	awk '/^voluntary_ctxt/ { v = $2 } /^nonvoluntary_ctxt/ { n = $2 } END { print v, n }' "/proc/$1/status"
}
# acct NAME FILE SEGS: "NAME user U sys S us/seg, csw V+I per 1000 segs"
# from a .cpu file ("user sys voluntary involuntary", as timed writes it).
acct() {
	awk -v n="$1" -v segs="$3" '{ printf "%s %.2f+%.2f us/seg csw %.1f+%.1f/kseg", n, $1 * 1e6 / segs,
		$2 * 1e6 / segs, $3 * 1000 / segs, $4 * 1000 / segs }' "$2"
}
jstack() { python3 -c 'import json,sys; j=[l for l in open(sys.argv[1]) if l.startswith("{")][-1]; print(json.loads(j)["stack"][sys.argv[2]])' "$1" "$2" 2>/dev/null; }

bench_netns
bench_veth "$NA" a0 "$NB" b0 198.18.32.1/24 198.18.32.2/24
# A second pair with TSO, GSO and GRO off: a per-segment yardstick.
bench_veth "$NA" a1 "$NB" b1 198.18.34.1/24 198.18.34.2/24
bench_no_gso "$NA" a1
bench_no_gso "$NB" b1

# ---- A. usnet <-> usnet through usnetd ------------------------------------------------
bench_usnetd "$WORK/usnetd.log" -s "$WORK/d.sock" -c 1 -U null: -i 1 -i 2 ||
	die "usnetd did not start: $(cat "$WORK/usnetd.log")"

usnet_run() { # ROUND MODE(sleep|busy)
	local r=$1 mode=$2 o=$WORK/A.$1.$2 d0 d1 sargs=(--sleep) port=$((5000 + r))
	[ "$mode" = busy ] && sargs=()
	d0=$(cpu_s "$upid")
	proc_acct "$upid" >"$o.d0"
	timed "$o.srv" taskset -c 0 "$PERF" -p "memif:$WORK/d.sock,id=1" --mac 02:75:00:00:00:01 \
		--ip 198.18.33.1/24 -l "$port" --one-off --sleep --json -i 3600 >"$o.srv" 2>"$o.srv.err" &
	local spid=$!
	PIDS+=("$spid")
	wait_line "$o.srv.err" "server on"
	timed "$o.cli" taskset -c 0 "$PERF" -p "memif:$WORK/d.sock,id=2" --mac 02:75:00:00:00:02 \
		--ip 198.18.33.2/24 -c "198.18.33.1:$port" -t "$SECS" "${sargs[@]}" -q --json \
		>"$o.cli" 2>"$o.cli.err"
	local crc=$?
	timeout 60 tail --pid="$spid" -f /dev/null
	wait "$spid"
	local src=$?
	d1=$(cpu_s "$upid")
	proc_acct "$upid" >"$o.d1"
	paste "$o.d0" "$o.d1" | awk '{ print $5 - $1, $6 - $2, $7 - $3, $8 - $4 }' >"$o.usnetd.cpu"
	local bytes secs gbps cpu dcpu segs acks
	bytes=$(jget "$o.srv" bytes) secs=$(jget "$o.srv" seconds)
	if [ "$crc" != 0 ] || [ "$src" != 0 ] || [ -z "$bytes" ]; then
		echo "RESULT tcp_bulk usnet-usnetd-$mode round=$r FAILED (client exit $crc, server exit $src): $(tail -n 2 "$o.cli.err" "$o.srv.err" | tr '\n' ' ')"
		return
	fi
	dcpu=$(calc "$d1 - $d0")
	cpu=$(calc "$(tcpu "$o.srv") + $(tcpu "$o.cli") + $dcpu")
	gbps=$(calc "$bytes * 8 / $secs / 1e9")
	echo "RESULT tcp_bulk usnet-usnetd-$mode round=$r gbps=$gbps bytes=$bytes seconds=$secs cpu_s=$cpu (sender $(tcpu "$o.cli") receiver $(tcpu "$o.srv") usnetd $dcpu) gbps_per_cpu=$(calc "$bytes * 8 / 1e9 / $cpu") retransmits=$(jget "$o.cli" retransmits)"
	# Where the CPU goes, per data segment the sender sent: user+system
	# microseconds and voluntary+involuntary context switches per 1000
	# segments of each process, and the ACKs (segments the receiver sent).
	segs=$(jstack "$o.cli" tcp_tx_segs) acks=$(jstack "$o.srv" tcp_tx_segs)
	[ -n "$segs" ] && [ "$segs" -gt 0 ] &&
		echo "ACCT tcp_bulk usnet-usnetd-$mode round=$r segs=$segs acks=$acks segs_per_ack=$(calc "$segs / ($acks + 1)" 1)" \
			"| $(acct sender "$o.cli.cpu" "$segs") | $(acct receiver "$o.srv.cpu" "$segs")" \
			"| $(acct usnetd "$o.usnetd.cpu" "$segs")"
}

# ---- B, C. the kernel -------------------------------------------------------------------
kernel_run() { # ROUND NAME NS_SENDER NS_RECEIVER ADDR
	local r=$1 name=$2 o=$WORK/K.$1.$2 port=$((6000 + r)) cc=()
	[ -n "$KCC" ] && cc=(--cc "$KCC")
	timed "$o.srv" ip netns exec "$4" taskset -c 1 "$KPEER" --listen "$5:$port" -m recv --json \
		-q --timeout 30 "${cc[@]}" >"$o.srv" 2>"$o.srv.err" &
	local spid=$!
	PIDS+=("$spid")
	wait_line "$o.srv.err" listening
	timed "$o.cli" ip netns exec "$3" taskset -c 0 "$KPEER" --connect "$5:$port" -t "$SECS" \
		--json -q --timeout 30 "${cc[@]}" >"$o.cli" 2>"$o.cli.err"
	local crc=$?
	wait "$spid"
	local src=$? bytes secs cpu
	bytes=$(jget "$o.srv" bytes) secs=$(jget "$o.srv" seconds)
	if [ "$crc" != 0 ] || [ "$src" != 0 ] || [ -z "$bytes" ]; then
		echo "RESULT tcp_bulk kernel-$name round=$r FAILED (client exit $crc, server exit $src): $(tail -n 2 "$o.cli.err" "$o.srv.err" | tr '\n' ' ')"
		return
	fi
	cpu=$(calc "$(tcpu "$o.srv") + $(tcpu "$o.cli")")
	echo "RESULT tcp_bulk kernel-$name round=$r gbps=$(calc "$bytes * 8 / $secs / 1e9") bytes=$bytes seconds=$secs cpu_s=$cpu (sender $(tcpu "$o.cli") receiver $(tcpu "$o.srv")) gbps_per_cpu=$(calc "$bytes * 8 / 1e9 / $cpu") retransmits=$(jget "$o.cli" retransmits) cc=${KCC:-default}"
}

part() { [[ " $PARTS " == *" $1 "* ]]; }
echo "== tcp_bulk: PARTS=$PARTS SECS=$SECS ROUNDS=$ROUNDS $(where)"
echo "   kernel default congestion control: $(sysctl -n net.ipv4.tcp_congestion_control)"
for r in $(seq "$ROUNDS"); do
	if part A; then
		usnet_run "$r" sleep
		[ "$BUSY" = 1 ] && usnet_run "$r" busy
	fi
	if part B; then
		kernel_run "$r" veth "$NA" "$NB" 198.18.32.2
		kernel_run "$r" veth-nogso "$NA" "$NB" 198.18.34.2
	fi
	part C && kernel_run "$r" lo "$NA" "$NA" 127.0.0.1
done | tee "$WORK/results"

medians_heading "$ROUNDS"
printf "   %-26s %10s %10s %14s\n" run Gbit/s CPU-s "Gbit/CPU-s"
kinds="usnet-usnetd-sleep"
[ "$BUSY" = 1 ] && kinds="$kinds usnet-usnetd-busy"
for k in $kinds kernel-veth kernel-veth-nogso kernel-lo; do
	printf "   %-26s %10s %10s %14s\n" "$k" "$(col "$k" gbps)" "$(col "$k" cpu_s)" "$(col "$k" gbps_per_cpu)"
done
u=$(col usnet-usnetd-sleep gbps_per_cpu) kv=$(col kernel-veth gbps_per_cpu) kl=$(col kernel-lo gbps_per_cpu)
kn=$(col kernel-veth-nogso gbps_per_cpu)
echo "RESULT tcp_bulk_per_cpu usnet=$u kernel_veth=$kv kernel_lo=$kl kernel_veth_nogso=$kn ratio_veth=$(ratio "$u" "$kv") ratio_lo=$(ratio "$u" "$kl") ratio_veth_nogso=$(ratio "$u" "$kn")"

# ---- D. the 1 GiB interop with this build --------------------------------------------------
if [ "$FULL" = 1 ]; then
	echo
	echo "== D. tests/integration/tcp_veth.sh $BUILD (BYTES=1G, both directions, SHA-256)"
	BYTES=1G bash "$HERE/../tests/integration/tcp_veth.sh" "$BUILD" 2>&1 | tee "$WORK/D.log" |
		grep -E '^(ok|FAIL|log|PASS|FAILED|sizes)'
fi
