#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Through the driver process: a memif client sending 64-byte frames as fast
# as it can, through a forwarding process, into a null port.
#
#   usnet: usnet-pktgen -s 64 (memif: client, cpu 0)
#            -> usnetd -c 1 -U null: (memif server + L2 switch, cpu 1)
#   DPDK:  dpdk-testpmd --forward-mode=txonly --txpkts=64 (net_memif client,
#            forwarding lcore 0) -> dpdk-testpmd --forward-mode=io
#            (net_memif server + net_null,no-rx=1, forwarding lcore 1)
#
#   bench/usnetd_throughput.sh BUILD_DIR
#
# Same frame length in memory (64 bytes, no FCS), ring size (1024), buffer
# size (2048) and burst (32) on both sides; each side's sender on cpu 0 and
# forwarder on cpu 1. ROUNDS rounds alternate usnet and DPDK, SECS seconds
# measured each after a 1 s warm-up. Rates: usnetd's uplink tx_frames
# (usnetctl) over the window; testpmd's "show port stats 0" Rx-pps on the
# server (TSC-timed). CPU share of each busy thread (schedstat) is printed
# with it: on a shared 2-core machine a thread below 100% was preempted.
#
# Environment: SECS (5), ROUNDS (3), KEEP=1 keeps the work directory.
# Output: a table, and "RESULT usnetd_mpps[_best|_cpu] usnet=.. dpdk=.. ratio=.."
# lines (median, best round, median per forwarder CPU-second).
# Not a test: needs root (testpmd), exits 1 only if nothing could be measured.
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3}
USNETD=$BUILD/daemon/usnetd
PKTGEN=$BUILD/tools/usnet-pktgen
CTL=$BUILD/tools/usnetctl
PREFIX=usnetdbench$$
WORK=$(mktemp -d /tmp/usnetd-throughput.XXXXXX)
pids=()

cleanup() {
	local p
	for p in "${pids[@]+"${pids[@]}"}"; do kill -INT "$p" 2>/dev/null || true; done
	sleep 0.5
	for p in "${pids[@]+"${pids[@]}"}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	rm -rf "/var/run/dpdk/${PREFIX}"*
	if [[ ${KEEP:-0} == 1 ]]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
die() { echo "usnetd_throughput: $*" >&2; exit 1; }

for b in "$USNETD" "$PKTGEN" "$CTL"; do [[ -x $b ]] || die "$b not built"; done
command -v dpdk-testpmd >/dev/null || die "dpdk-testpmd not installed (apt-get install dpdk-dev)"
mkdir -p /var/run/dpdk 2>/dev/null || true
[[ -w /var/run/dpdk ]] || die "/var/run/dpdk is not writable (testpmd needs it): run as root"

runtime_ns() { awk '{ print $1 }' "$1/schedstat" 2>/dev/null || echo 0; }
share() { awk -v r="$1" -v t="$2" 'BEGIN { printf "%.0f", (t > 0 ? 100 * r / t : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
per_cpu() { awk -v m="$1" -v s="$2" 'BEGIN { printf "%.2f", (s > 0 ? m * 100 / s : 0) }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
best() { printf '%s\n' "$@" | sort -g | tail -1; }
# The task directory of thread COMM of the dpdk-testpmd whose command line
# has PATTERN ("" if none).
task_of() {
	local p t
	for p in $(pgrep -f -- "$1" || true); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == dpdk-testpmd ]] || continue
		for t in /proc/"$p"/task/*; do
			if [[ $(cat "$t/comm" 2>/dev/null) == "$2" ]]; then
				echo "$t"
				return 0
			fi
		done
	done
	return 0
}

# usnet round: prints "MPPS SENDER% FORWARDER%".
usnet_round() {
	local r=$1 sock=$WORK/u$1.sock ctl=$WORK/u$1.ctl d g f0 f1 t0 t1 rs0 rs1 rd0 rd1
	"$USNETD" -s "$sock" -C "$ctl" -c 1 -U null: -i 1 --auto-ids none -q 2>"$WORK/usnetd.$r.log" &
	d=$!
	pids+=("$d")
	for _ in $(seq 100); do [[ -S $ctl ]] && break; sleep 0.05; done
	taskset -c 0 "$PKTGEN" -p "memif:$sock,id=1" -s 64 -t $((SECS + 4)) --src-mac 02:75:00:00:00:01 \
		-q 2>"$WORK/pktgen.$r.log" &
	g=$!
	pids+=("$g")
	sleep 1
	read -r f0 < <("$CTL" --socket "$ctl" uplinks --json | python3 -c \
		'import json,sys; print(json.load(sys.stdin)["uplinks"][0]["tx_frames"])')
	t0=$(date +%s%N) rs0=$(runtime_ns "/proc/$g") rd0=$(runtime_ns "/proc/$d")
	sleep "$SECS"
	read -r f1 < <("$CTL" --socket "$ctl" uplinks --json | python3 -c \
		'import json,sys; print(json.load(sys.stdin)["uplinks"][0]["tx_frames"])')
	t1=$(date +%s%N) rs1=$(runtime_ns "/proc/$g") rd1=$(runtime_ns "/proc/$d")
	kill -INT "$g" "$d" 2>/dev/null || true
	wait "$g" 2>/dev/null || true
	wait "$d" 2>/dev/null || true
	awk -v f="$((f1 - f0))" -v t="$((t1 - t0))" 'BEGIN { printf "%.3f", f * 1000 / t }'
	echo " $(share $((rs1 - rs0)) $((t1 - t0))) $(share $((rd1 - rd0)) $((t1 - t0)))"
}

# DPDK round: the io-forwarding memif server interactive on a pipe (start;
# 1 s warm-up; show port stats 0; SECS s; show port stats 0: Rx-pps over the
# window), the txonly client non-interactive (stdin a sleep: at EOF it
# stops; it must outlive the window: net_memif forgets its counters when
# the peer disconnects).
dpdk_round() {
	local r=$1 sock=$WORK/d$1.$2.sock log=$WORK/dpdk-server.$r.log c
	rm -f "$WORK/shares"
	{
		trap '' PIPE # if testpmd died, the echos below fail instead of killing us
		for _ in $(seq 1 300); do grep -q "testpmd>" "$log" 2>/dev/null && break; sleep 0.1; done
		echo start
		sleep $((SECS + 4)) | dpdk-testpmd --no-huge -m 256 --no-pci -l 0-1 --main-lcore 1 \
			--file-prefix "${PREFIX}c$r" --log-level=lib.eal:error \
			--vdev="net_memif0,role=client,id=0,socket=$sock,socket-abstract=no" -- \
			--forward-mode=txonly --txpkts=64 --nb-cores=1 --burst=32 \
			--total-num-mbufs=16384 --disable-link-check >"$WORK/dpdk-client.$r.log" 2>&1 &
		c=$!
		sleep 1.5
		local cw sw rs0 rs1 rd0 rd1 t0 t1
		cw=$(task_of "--file-prefix ${PREFIX}c$r" rte-worker-0)
		sw=$(task_of "--file-prefix ${PREFIX}s$r" rte-worker-1)
		t0=$(date +%s%N) rs0=$(runtime_ns "$cw") rd0=$(runtime_ns "$sw")
		echo "show port stats 0"
		sleep "$SECS"
		t1=$(date +%s%N) rs1=$(runtime_ns "$cw") rd1=$(runtime_ns "$sw")
		echo "show port stats 0"
		echo "$(share $((rs1 - rs0)) $((t1 - t0))) $(share $((rd1 - rd0)) $((t1 - t0)))" >"$WORK/shares"
		# Stop forwarding before the client goes: DPDK 22.11's memif server
		# can crash in its RX burst when the client disconnects under it.
		echo stop || true
		wait "$c" 2>/dev/null || true
		echo quit || true
	} | timeout -s INT $((SECS + 60)) stdbuf -oL dpdk-testpmd --no-huge -m 256 --no-pci -l 0-1 \
		--main-lcore 0 --file-prefix "${PREFIX}s$r" --log-level=lib.eal:error \
		--vdev="net_memif0,role=server,id=0,socket=$sock,socket-abstract=no" \
		--vdev=net_null0,no-rx=1 -- -i --forward-mode=io --port-topology=paired --nb-cores=1 \
		--burst=32 --total-num-mbufs=16384 >"$log" 2>&1 || true
	awk '/Rx-pps:/ { r = $2 } END { printf "%.3f", r / 1e6 }' "$log"
	echo " $(cat "$WORK/shares" 2>/dev/null || echo "0 0")"
}

echo "== usnetd throughput: memif client -> forwarding process -> null port, 64-byte frames"
echo "   usnet: taskset -c 0 usnet-pktgen -p memif:SOCK,id=1 -s 64 -> usnetd -c 1 -U null: -i 1"
echo "   DPDK:  dpdk-testpmd txonly --txpkts=64 (net_memif client, lcore 0) ->"
echo "          dpdk-testpmd io (net_memif server + net_null0,no-rx=1, lcore 1)"
echo "   shares: CPU time of the sender's / forwarder's busy thread over the window"
echo "   Mpps/CPU: Mpps / the forwarder's share (the forwarder is the bottleneck on both sides:"
echo "   the senders find their rings full), comparable across rounds on a loaded machine"
printf "   %-6s %11s %8s %9s   %11s %8s %9s   %6s %9s\n" round "usnet Mpps" "shares" "Mpps/CPU" \
	"DPDK Mpps" "shares" "Mpps/CPU" ratio "ratio/CPU"
um=() dm=() ra=() uc=() dc=() rc=()
for r in $(seq 1 "$ROUNDS"); do
	u= dd=
	read -r u us ud < <(usnet_round "$r") || true
	# Should testpmd's memif server die anyway, the round is run again, at
	# most twice.
	for try in 1 2 3; do
		read -r dd ds dw < <(dpdk_round "$r" "$try") || true
		[[ -n ${dd:-} && $dd != 0.000 ]] && break
		echo "   (DPDK round $r, try $try: no rate from testpmd; again)"
	done
	[[ -n ${u:-} && -n ${dd:-} && $dd != 0.000 ]] || {
		for f in "$WORK"/*."$r".log; do echo "== $f"; tail -n 20 "$f"; done
		die "round $r failed"
	}
	upc=$(per_cpu "$u" "$ud") dpc=$(per_cpu "$dd" "$dw")
	printf "   %-6s %11s %3s/%3s%% %9s   %11s %3s/%3s%% %9s   %6s %9s\n" "$r" "$u" "$us" "$ud" \
		"$upc" "$dd" "$ds" "$dw" "$dpc" "$(ratio "$u" "$dd")" "$(ratio "$upc" "$dpc")"
	um+=("$u") dm+=("$dd") ra+=("$(ratio "$u" "$dd")")
	uc+=("$upc") dc+=("$dpc") rc+=("$(ratio "$upc" "$dpc")")
done
u_med=$(median "${um[@]}") d_med=$(median "${dm[@]}") r_med=$(median "${ra[@]}")
uc_med=$(median "${uc[@]}") dc_med=$(median "${dc[@]}") rc_med=$(median "${rc[@]}")
printf "   %-6s %11s %8s %9s   %11s %8s %9s   %6s %9s\n" median "$u_med" "" "$uc_med" "$d_med" "" \
	"$dc_med" "$r_med" "$rc_med"
printf "   %-6s %11s %8s %9s   %11s %8s %9s   %6s\n" best "$(best "${um[@]}")" "" "" \
	"$(best "${dm[@]}")" "" "" "$(ratio "$(best "${um[@]}")" "$(best "${dm[@]}")")"
echo "RESULT usnetd_mpps usnet=$u_med dpdk=$d_med ratio=$r_med"
echo "RESULT usnetd_mpps_best usnet=$(best "${um[@]}") dpdk=$(best "${dm[@]}") ratio=$(ratio "$(best "${um[@]}")" "$(best "${dm[@]}")")"
echo "RESULT usnetd_mpps_cpu usnet=$uc_med dpdk=$dc_med ratio=$rc_med"
