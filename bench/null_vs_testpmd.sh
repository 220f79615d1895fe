#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# io-forwarding on a null port: usnet (bench/null_bench, "null:") against
# DPDK's testpmd (--vdev net_null0 --forward-mode=io), same burst (32), one
# forwarding core each (cpu 1), no packet data touched on either side.
#
#   bench/null_vs_testpmd.sh BUILD_DIR
#
# (a) usnet under callgrind, --toggle-collect=fwd_burst, CG_PACKETS packets:
#     instructions per forwarded packet in the steady state.
# (b) testpmd under callgrind, --toggle-collect on its per-burst forwarding
#     function (pkt_burst_io_forward in app/test-pmd/iofwd.c). Debian's
#     dpdk-testpmd is stripped, so callgrind names that function by its
#     address; a first, fully collected run finds it as the one function of
#     dpdk-testpmd that calls into librte_net_null (io mode calls rx and tx
#     there and nowhere else), and its inclusive cost there is reported too
#     as a cross-check. Packets: testpmd's own forward statistics.
# (c) both natively, ROUNDS rounds of SECS seconds each, alternating:
#     usnet's Mpps as null_bench measures its own loop; DPDK's as testpmd's
#     "show port stats" Rx-pps over SECS seconds after a 1 s warm-up.
#
# Environment: SECS (5), ROUNDS (3), CG_PACKETS (10000000), CG_SECS (20:
# seconds testpmd runs under callgrind), DISC_SECS (10), KEEP=1 keeps the
# work directory (callgrind files, logs).
#
# Output: readable tables, and "RESULT key=value" lines for run-all.sh.
# Not a test: exits 0 after printing, 1 if something could not be measured.
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
NULL_BENCH=$BUILD/bench/null_bench
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3}
CG_PACKETS=${CG_PACKETS:-10000000}
CG_SECS=${CG_SECS:-20}
DISC_SECS=${DISC_SECS:-10}
BURST=32
CPU=1
PREFIX=usnetbench$$
WORK=$(mktemp -d /tmp/usnet-null-bench.XXXXXX)

cleanup() {
	rm -rf "/var/run/dpdk/$PREFIX"
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

die() {
	echo "null_vs_testpmd: $*" >&2
	exit 1
}

[[ -x $NULL_BENCH ]] || die "$NULL_BENCH not built (cmake --build $BUILD --target null_bench)"
command -v dpdk-testpmd >/dev/null || die "dpdk-testpmd not installed (apt-get install dpdk-dev)"
command -v valgrind >/dev/null || die "valgrind not installed"
mkdir -p /var/run/dpdk 2>/dev/null || true
[[ -w /var/run/dpdk ]] || die "/var/run/dpdk is not writable (testpmd needs it): run as root"

# The testpmd command line, minus the application part's mode flags. -m 256
# holds the default 155456 mbufs only if they are fewer: 16384 are plenty for
# one queue of 32-packet bursts. net_null does not write packet data (nor
# does usnet's null:), so neither side touches the frames.
TESTPMD=(dpdk-testpmd --no-huge -m 256 --no-pci --vdev net_null0 -l 0-$CPU
	--file-prefix "$PREFIX" --log-level=lib.eal:error --
	--forward-mode=io --nb-cores=1 --burst=$BURST --total-num-mbufs=16384)

# Sum of Ir from a callgrind output file ("summary:" or "totals:" line).
cg_total() {
	awk '/^(summary|totals):/ { print $2; exit }' "$1"
}

# Per-packet table of a callgrind file's functions (self cost): FILE PACKETS.
cg_breakdown() {
	callgrind_annotate --auto=no --threshold=99.5 "$1" 2>/dev/null |
		awk -v p="$2" '
		/PROGRAM TOTALS/ { next }
		/^ *[0-9,]+ +\( *[0-9.]+%\) +[^ ]/ {
			n = $1; gsub(",", "", n)
			line = $0
			sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "", line)
			sub(/^\?\?\?:/, "", line)
			sub(/\[\/usr\/lib\/x86_64-linux-gnu\//, "[", line)
			printf "    %8.2f  %s\n", n / p, line
		}'
}

# Last "TX-packets: N" of testpmd's forward statistics in a log.
tp_fwd_tx() {
	awk '/TX-packets:/ { n = $2 } END { print n + 0 }' "$1"
}

echo "== null io-forward: usnet null: vs DPDK 22.11 testpmd net_null, burst $BURST, cpu $CPU"
echo "   $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# ---- (a) usnet under callgrind ---------------------------------------------
echo "-- (a) usnet: valgrind --tool=callgrind --toggle-collect=fwd_burst $NULL_BENCH -n $CG_PACKETS -c $CPU"
valgrind --tool=callgrind --toggle-collect=fwd_burst --callgrind-out-file="$WORK/usnet.cg" \
	"$NULL_BENCH" -n "$CG_PACKETS" -t 100000 -c $CPU >"$WORK/usnet-cg.log" 2>&1 ||
	{ cat "$WORK/usnet-cg.log"; die "null_bench under callgrind failed"; }
u_pkts=$(sed -n 's/^RESULT null .*packets=\([0-9]*\).*/\1/p' "$WORK/usnet-cg.log")
u_ir=$(cg_total "$WORK/usnet.cg")
[[ -n $u_pkts && $u_pkts -gt 0 && -n $u_ir ]] || die "no usnet callgrind result"
u_ipp=$(awk -v a="$u_ir" -v b="$u_pkts" 'BEGIN { printf "%.2f", a / b }')
echo "   $u_ir instructions / $u_pkts packets = $u_ipp instructions/packet"
echo "   per packet, by function (self):"
cg_breakdown "$WORK/usnet.cg" "$u_pkts"
echo

# ---- (b) testpmd under callgrind -------------------------------------------
# Discovery run: everything collected; find the testpmd function that calls
# librte_net_null (the io forwarding function) and its inclusive cost.
echo "-- (b) DPDK: valgrind --tool=callgrind ${TESTPMD[*]}"
(sleep "$DISC_SECS" | timeout -s INT $((DISC_SECS + 120)) valgrind --tool=callgrind \
	--callgrind-out-file="$WORK/dpdk-disc.cg" "${TESTPMD[@]}" >"$WORK/dpdk-disc.log" 2>&1) ||
	{ tail -20 "$WORK/dpdk-disc.log"; die "testpmd under callgrind (discovery) failed"; }
# testpmd's start-up flush (flush_fwd_rx_queues) also calls net_null's rx,
# for about a second; only the io forwarding function calls two of its
# functions (rx and tx).
read -r fwd_fn fwd_incl < <(callgrind_annotate --auto=no --inclusive=yes --tree=calling \
	--threshold=100 "$WORK/dpdk-disc.cg" 2>/dev/null | awk '
	function done_fn() { if (fn != "" && ncallee >= 2 && incl > best) { best = incl; bestfn = fn } }
	/\*  / { done_fn(); fn = ""; ncallee = 0
		if ($0 ~ /\[[^]]*dpdk-testpmd\]$/) {
			n = $1; gsub(",", "", n); f = $0
			sub(/^.*\*  +(\?\?\?:)?/, "", f); sub(/ .*$/, "", f); fn = f; incl = n } }
	/ >  / && fn != "" && /librte_net_null/ { ncallee++ }
	END { done_fn(); if (bestfn != "") print bestfn, best }')
[[ -n ${fwd_fn:-} ]] || die "could not find testpmd's forwarding function in the call graph"
d_disc_pkts=$(tp_fwd_tx "$WORK/dpdk-disc.log")
echo "   forwarding function (pkt_burst_io_forward, stripped): $fwd_fn"
echo "   discovery run: inclusive $fwd_incl Ir / $d_disc_pkts packets =" \
	"$(awk -v a="$fwd_incl" -v b="$d_disc_pkts" 'BEGIN { printf "%.2f", a / b }') instructions/packet"

echo "   valgrind --tool=callgrind --toggle-collect=$fwd_fn dpdk-testpmd ... (${CG_SECS} s)"
(sleep "$CG_SECS" | timeout -s INT $((CG_SECS + 120)) valgrind --tool=callgrind \
	--toggle-collect="$fwd_fn" --callgrind-out-file="$WORK/dpdk.cg" "${TESTPMD[@]}" \
	>"$WORK/dpdk-cg.log" 2>&1) ||
	{ tail -20 "$WORK/dpdk-cg.log"; die "testpmd under callgrind failed"; }
d_pkts=$(tp_fwd_tx "$WORK/dpdk-cg.log")
d_ir=$(cg_total "$WORK/dpdk.cg")
[[ $d_pkts -gt 0 && -n $d_ir ]] || die "no testpmd callgrind result"
d_ipp=$(awk -v a="$d_ir" -v b="$d_pkts" 'BEGIN { printf "%.2f", a / b }')
echo "   $d_ir instructions / $d_pkts packets = $d_ipp instructions/packet"
# The toggled function must have run once per burst of $BURST forwarded packets.
d_calls=$(callgrind_annotate --auto=no --tree=calling --threshold=100 "$WORK/dpdk.cg" 2>/dev/null |
	awk -v f="$fwd_fn" '$0 ~ "> +(\\?\\?\\?:)?" f " " { c = $0; sub(/^.*\(/, "", c); sub(/x\).*$/, "", c)
		gsub(",", "", c); print c; exit }')
echo "   $fwd_fn ran ${d_calls:-?} times: $(awk -v c="${d_calls:-0}" -v p="$d_pkts" \
	'BEGIN { printf "%.2f", (c > 0 ? p / c : 0) }') packets per call"
echo "   per packet, by function (self; stripped functions named by address):"
cg_breakdown "$WORK/dpdk.cg" "$d_pkts"
echo

# ---- (c) native throughput ---------------------------------------------------
# The machine is shared: a forwarding thread that loses its core to someone
# else's compiler forwards less, whatever its code. So each side's CPU share
# over the measured window is recorded too (CPU time the thread got / wall
# time, from CLOCK_THREAD_CPUTIME_ID in null_bench and from the testpmd
# forwarding thread's /proc/PID/task/TID/schedstat, the same kernel counter),
# and Mpps / share ("Mpps per CPU-second") is reported beside the raw rate.

# schedstat's first field: ns the task has run on a CPU.
runtime_ns() {
	awk '{ print $1 }' "$1/schedstat" 2>/dev/null || echo 0
}

# The task directory of testpmd's forwarding thread (rte-worker-1), or "".
testpmd_worker() {
	local p t
	for p in $(pgrep -f -- "--file-prefix $PREFIX"); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == dpdk-testpmd ]] || continue
		for t in /proc/"$p"/task/*; do
			if [[ $(cat "$t/comm" 2>/dev/null) == rte-worker-$CPU ]]; then
				echo "$t"
				return
			fi
		done
	done
}

# testpmd interactive on a pipe: start, warm up 1 s, "show port stats" (sets
# the baseline), SECS s, "show port stats" again: its Rx-pps is the rate over
# those SECS seconds, timed by testpmd with the TSC. Prints "MPPS SHARE%".
testpmd_native() {
	local log=$1
	rm -f "$WORK/dpdk-share"
	{
		for _ in $(seq 1 300); do
			grep -q "testpmd>" "$log" 2>/dev/null && break
			sleep 0.1
		done
		echo start
		sleep 1
		task=$(testpmd_worker)
		r0=$(runtime_ns "$task")
		t0=$(date +%s%N)
		echo "show port stats 0"
		sleep "$SECS"
		r1=$(runtime_ns "$task")
		t1=$(date +%s%N)
		echo "show port stats 0"
		awk -v r="$((r1 - r0))" -v t="$((t1 - t0))" \
			'BEGIN { printf "%.0f", 100 * r / t }' >"$WORK/dpdk-share"
		echo stop
		sleep 0.5
		echo quit
	} | timeout -s INT $((SECS + 60)) "${TESTPMD[@]}" -i >"$log" 2>&1
	awk '/Rx-pps:/ { r = $2 } END { printf "%.2f", r / 1e6 }' "$log"
	echo " $(cat "$WORK/dpdk-share" 2>/dev/null || echo 0)"
}

per_cpu() { awk -v m="$1" -v s="$2" 'BEGIN { printf "%.2f", (s > 0 ? m * 100 / s : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
best() { printf '%s\n' "$@" | sort -g | tail -1; }

echo "-- (c) native, $ROUNDS rounds of $SECS s each, alternating"
echo "   usnet: $NULL_BENCH -t $SECS -n 1e15 -b $BURST -c $CPU"
echo "   DPDK:  ${TESTPMD[*]} -i  (start; show port stats 0 twice, $SECS s apart)"
echo "   share: CPU time the forwarding thread got / wall time; Mpps/CPU = Mpps / share"
printf "   %-6s %10s %6s %9s   %10s %6s %9s   %8s %8s\n" round "usnet Mpps" share Mpps/CPU \
	"DPDK Mpps" share Mpps/CPU ratio "ratio/CPU"
umpps=() dmpps=() ucpu=() dcpu=() ratios=() cratios=()
for r in $(seq 1 "$ROUNDS"); do
	"$NULL_BENCH" -t "$SECS" -n 1e15 -b $BURST -c $CPU >"$WORK/usnet-native.$r.log" 2>&1 ||
		{ cat "$WORK/usnet-native.$r.log"; die "null_bench failed"; }
	um=$(sed -n 's/^RESULT null .*mpps=\([0-9.]*\).*/\1/p' "$WORK/usnet-native.$r.log")
	us=$(sed -n 's/^RESULT null .*cpu=\([0-9.]*\).*/\1/p' "$WORK/usnet-native.$r.log")
	read -r dm ds < <(testpmd_native "$WORK/dpdk-native.$r.log") || true
	if [[ -z ${dm:-} || $dm == 0.00 ]]; then
		tail -20 "$WORK/dpdk-native.$r.log"
		die "testpmd native run failed"
	fi
	uc=$(per_cpu "$um" "$us")
	dc=$(per_cpu "$dm" "$ds")
	ra=$(ratio "$um" "$dm")
	rc=$(ratio "$uc" "$dc")
	printf "   %-6s %10s %5s%% %9s   %10s %5s%% %9s   %8s %8s\n" "$r" "$um" "$us" "$uc" \
		"$dm" "$ds" "$dc" "$ra" "$rc"
	umpps+=("$um") dmpps+=("$dm") ucpu+=("$uc") dcpu+=("$dc") ratios+=("$ra") cratios+=("$rc")
done
u_med=$(median "${umpps[@]}") d_med=$(median "${dmpps[@]}") r_med=$(median "${ratios[@]}")
u_best=$(best "${umpps[@]}") d_best=$(best "${dmpps[@]}")
uc_med=$(median "${ucpu[@]}") dc_med=$(median "${dcpu[@]}") rc_med=$(median "${cratios[@]}")
printf "   %-6s %10s %6s %9s   %10s %6s %9s   %8s %8s\n" median "$u_med" "" "$uc_med" \
	"$d_med" "" "$dc_med" "$r_med" "$rc_med"
printf "   %-6s %10s %6s %9s   %10s %6s %9s   %8s\n" best "$u_best" "" "" "$d_best" "" "" \
	"$(ratio "$u_best" "$d_best")"
echo

ipp_ratio=$(ratio "$u_ipp" "$d_ipp")
echo "== summary"
printf "   %-40s %10s %10s %10s\n" "" usnet DPDK usnet/DPDK
printf "   %-40s %10s %10s %10s\n" "instructions/packet (callgrind)" "$u_ipp" "$d_ipp" "$ipp_ratio"
printf "   %-40s %10s %10s %10s\n" "Mpps, native (median of $ROUNDS rounds)" "$u_med" "$d_med" \
	"$r_med"
printf "   %-40s %10s %10s %10s\n" "Mpps, native (best round)" "$u_best" "$d_best" \
	"$(ratio "$u_best" "$d_best")"
printf "   %-40s %10s %10s %10s\n" "Mpps per CPU-second (median)" "$uc_med" "$dc_med" "$rc_med"
echo "RESULT null_ipp usnet=$u_ipp dpdk=$d_ipp ratio=$ipp_ratio"
echo "RESULT null_mpps usnet=$u_med dpdk=$d_med ratio=$r_med"
echo "RESULT null_mpps_best usnet=$u_best dpdk=$d_best ratio=$(ratio "$u_best" "$d_best")"
echo "RESULT null_mpps_cpu usnet=$uc_med dpdk=$dc_med ratio=$rc_med"
