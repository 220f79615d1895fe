#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# AF_XDP on a veth pair, in one run: usnet's afxdp: port against DPDK's
# net_af_xdp PMD (dpdk-testpmd) and against usnet's own afpacket: port,
# 60-byte frames, bursts of 32, the measured process pinned to cpu 1.
#
#   bench/afxdp_vs_testpmd.sh BUILD_DIR
#
# TX: usnet-pktgen -p afxdp:A,prog=all | testpmd --vdev net_af_xdp0,iface=A
#     txonly | usnet-pktgen -p afpacket:A; rate = delta of B's rx_packets.
# RX: a fixed sender (usnet-pktgen -p afpacket:A, tx=mmsg, cpu 0) and
#     usnet-sink -p afxdp:B,prog=all | testpmd --vdev net_af_xdp0,iface=B
#     rxonly | usnet-sink -p afpacket:B; rate = what the receiver counted
#     over the window (sink's per-second totals; testpmd's port stats).
# share: the measured thread's CPU time over the window / wall time
# (schedstat), so Mpps/CPU = Mpps / share. In copy mode (veth) the kernel's
# work for a TX batch runs inside the sender's sendto(), so it is in the
# sender's share, for all three alike.
#
# Environment: SECS (4), ROUNDS (3), KEEP=1 keeps the logs.
# Output: tables and RESULT lines. Exit 77: something missing (root,
# dpdk-testpmd, the tools, an afxdp: port that works).
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
PKTGEN=$BUILD/tools/usnet-pktgen
SINK=$BUILD/tools/usnet-sink
SECS=${SECS:-4}
ROUNDS=${ROUNDS:-3}
WARM=1
SIZE=60
BURST=32
CPU=1
NS=usnet-axbench-$$
VA=axb$$a
VB=axb$$b
PREFIX=usnetaxbench$$
WORK=$(mktemp -d /tmp/usnet-afxdp-bench.XXXXXX)
BG=()

skip() { echo "SKIP: $*"; exit 77; }
die() { echo "afxdp_vs_testpmd: $*" >&2; exit 1; }
cleanup() {
	local p
	for p in "${BG[@]+"${BG[@]}"}"; do kill -INT "$p" 2>/dev/null || true; done
	sleep 0.3
	for p in "${BG[@]+"${BG[@]}"}"; do kill -KILL "$p" 2>/dev/null || true; done
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "/var/run/dpdk/$PREFIX"
	[[ ${KEEP:-0} == 1 ]] && echo "logs kept: $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

[[ $(id -u) == 0 ]] || skip "needs root"
command -v dpdk-testpmd >/dev/null || skip "dpdk-testpmd not installed"
[[ -x $PKTGEN && -x $SINK ]] || skip "tools not built in $BUILD"
mkdir -p /var/run/dpdk
ip netns add "$NS" || skip "cannot create a network namespace"
ip -n "$NS" link add "$VA" type veth peer name "$VB" || skip "cannot create a veth pair"
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
for i in lo "$VA" "$VB"; do ip -n "$NS" link set "$i" up; done
nsx() { ip netns exec "$NS" "$@"; }
nsx timeout 10 "$PKTGEN" -p "afxdp:$VA,prog=all" -n 1000 -q >"$WORK/probe.log" 2>&1 ||
	skip "afxdp: does not work here: $(tail -1 "$WORK/probe.log")"

rx_count() { nsx cat "/sys/class/net/$VB/statistics/rx_packets"; }
runtime_ns() { awk '{ print $1 }' "$1/schedstat" 2>/dev/null || echo 0; }
now_ns() { date +%s%N; }
# share TASKDIR R0 T0: percent of wall time since T0 the task ran.
share() { awk -v r="$(($(runtime_ns "$1") - $2))" -v t="$(($(now_ns) - $3))" 'BEGIN { printf "%.0f", 100 * r / t }'; }
per_cpu() { awk -v m="$1" -v s="$2" 'BEGIN { printf "%.3f", (s > 0 ? m * 100 / s : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
child() { pgrep -P "$1" | head -1; }
worker() { # testpmd's forwarding thread
	local p t
	for p in $(pgrep -f -- "--file-prefix $PREFIX"); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == dpdk-testpmd ]] || continue
		for t in /proc/"$p"/task/*; do
			[[ $(cat "$t/comm" 2>/dev/null) == rte-worker-$CPU ]] && { echo "$t"; return; }
		done
	done
}

# ---- TX -----------------------------------------------------------------
# tx_usnet SPEC: sets M (Mpps at B) and S (share).
tx_usnet() {
	ip netns exec "$NS" taskset -c $CPU timeout -s INT $((WARM + SECS + 30)) "$PKTGEN" -p "$1" -s $SIZE \
		-b $BURST -q -t $((WARM + SECS + 2)) >"$WORK/tx.log" 2>&1 &
	local pid=$! task c0 r0 t0
	BG+=("$pid")
	sleep $WARM
	task=/proc/$(child "$pid")
	c0=$(rx_count) r0=$(runtime_ns "$task") t0=$(now_ns)
	sleep "$SECS"
	S=$(share "$task" "$r0" "$t0")
	M=$(awk -v c="$(($(rx_count) - c0))" -v t="$(($(now_ns) - t0))" 'BEGIN { printf "%.3f", c / (t / 1e9) / 1e6 }')
	wait "$pid" || true
}

testpmd() { # MODE IFACE: runs testpmd, commands on stdin
	ip netns exec "$NS" timeout -s INT $((WARM + SECS + 60)) dpdk-testpmd --no-huge -m 512 --no-pci \
		--vdev "net_af_xdp0,iface=$2" -l 0-$CPU --file-prefix "$PREFIX" \
		--log-level=lib.eal:error -- --forward-mode="$1" --txpkts=$SIZE --burst=$BURST \
		--nb-cores=1 --total-num-mbufs=16384 -i
}

tx_dpdk() {
	rm -f "$WORK/d.out"
	{
		for _ in $(seq 300); do grep -q "testpmd>" "$WORK/dpdk.log" 2>/dev/null && break; sleep 0.1; done
		echo start
		sleep $WARM
		local task c0 r0 t0
		task=$(worker)
		c0=$(rx_count) r0=$(runtime_ns "$task") t0=$(now_ns)
		sleep "$SECS"
		echo "$(awk -v c="$(($(rx_count) - c0))" -v t="$(($(now_ns) - t0))" 'BEGIN { printf "%.3f", c / (t / 1e9) / 1e6 }') $(share "$task" "$r0" "$t0")" >"$WORK/d.out"
		echo stop
		sleep 0.5
		echo quit
	} | testpmd txonly "$VA" >"$WORK/dpdk.log" 2>&1 || true
	[[ -s $WORK/d.out ]] || { tail -20 "$WORK/dpdk.log"; die "testpmd txonly failed"; }
	read -r M S <"$WORK/d.out"
}

# ---- RX -----------------------------------------------------------------
start_sender() {
	ip netns exec "$NS" taskset -c 0 timeout -s INT $((WARM + SECS + 30)) "$PKTGEN" -p "afpacket:$VA" -s $SIZE \
		-b $BURST -q -t $((WARM + SECS + 3)) >"$WORK/sender.log" 2>&1 &
	SENDER=$!
	BG+=("$SENDER")
}

# rx_usnet SPEC: usnet-sink's own per-second totals over the window.
rx_usnet() {
	ip netns exec "$NS" taskset -c $CPU timeout -s INT $((WARM + SECS + 30)) "$SINK" -p "$1" \
		-t $((WARM + SECS + 2)) --idle-timeout 10000 >"$WORK/sink.out" 2>"$WORK/sink.log" &
	local pid=$! task r0 t0
	BG+=("$pid")
	sleep 0.5
	start_sender
	sleep $WARM
	task=/proc/$(child "$pid")
	r0=$(runtime_ns "$task") t0=$(now_ns)
	sleep "$SECS"
	S=$(share "$task" "$r0" "$t0")
	wait "$SENDER" || true
	wait "$pid" || true
	# "usnet-sink: 3.0 s | rx ..., total N pkts": the rate between the first
	# line at or after the warm-up and the last line while the sender ran.
	M=$(sed -n 's/^usnet-sink: \([0-9.]*\) s |.*total \([0-9]*\) pkts.*/\1 \2/p' "$WORK/sink.log" |
		awk -v w=$((WARM + 1)) -v e=$((WARM + SECS + 1)) '$1 >= w && $1 <= e { if (!n++) { t0 = $1; c0 = $2 } t1 = $1; c1 = $2 }
			END { printf "%.3f", (t1 > t0 ? (c1 - c0) / (t1 - t0) / 1e6 : 0) }')
}

rx_dpdk() {
	rm -f "$WORK/d.out"
	{
		for _ in $(seq 300); do grep -q "testpmd>" "$WORK/dpdk.log" 2>/dev/null && break; sleep 0.1; done
		echo start
		sleep 0.5
		start_sender
		sleep $WARM
		local task r0 t0
		task=$(worker)
		echo "show port stats all"
		r0=$(runtime_ns "$task") t0=$(now_ns)
		sleep "$SECS"
		echo "show port stats all"
		echo "$(share "$task" "$r0" "$t0") $(($(now_ns) - t0))" >"$WORK/d.out"
		sleep 0.5
		echo stop
		sleep 0.5
		echo quit
	} | testpmd rxonly "$VB" >"$WORK/dpdk.log" 2>&1 || true
	wait "$SENDER" || true
	[[ -s $WORK/d.out ]] || { tail -20 "$WORK/dpdk.log"; die "testpmd rxonly failed"; }
	local ns
	read -r S ns <"$WORK/d.out"
	M=$(grep -o "RX-packets: *[0-9]*" "$WORK/dpdk.log" | awk '{ print $2 }' | head -2 |
		awk -v t="$ns" '{ v[NR] = $1 } END { printf "%.3f", (v[2] - v[1]) / (t / 1e9) / 1e6 }')
}

echo "== AF_XDP over veth, ${SIZE}-byte frames, burst $BURST, measured thread on cpu $CPU, $SECS s windows"
echo "   $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"
fmt="   %-5s %-3s %9s %5s %8s | %9s %5s %8s | %9s %5s %8s | %6s %6s\n"
printf "$fmt" round dir "afxdp" share Mpps/CPU "DPDK" share Mpps/CPU "afpacket" share Mpps/CPU x/DPDK "x/afp"
for dir in TX RX; do
	xs=() ds=() ps=() rd=() rp=()
	for r in $(seq 1 "$ROUNDS"); do
		if [[ $dir == TX ]]; then
			tx_usnet "afxdp:$VA,prog=all"; XM=$M XS=$S
			tx_dpdk; DM=$M DS=$S
			tx_usnet "afpacket:$VA"; PM=$M PS=$S
		else
			rx_usnet "afxdp:$VB,prog=all"; XM=$M XS=$S
			rx_dpdk; DM=$M DS=$S
			rx_usnet "afpacket:$VB,retire_ms=1"; PM=$M PS=$S
		fi
		xc=$(per_cpu "$XM" "$XS") dc=$(per_cpu "$DM" "$DS") pc=$(per_cpu "$PM" "$PS")
		printf "$fmt" "$r" "$dir" "$XM" "$XS%" "$xc" "$DM" "$DS%" "$dc" "$PM" "$PS%" "$pc" \
			"$(ratio "$xc" "$dc")" "$(ratio "$xc" "$pc")"
		xs+=("$xc") ds+=("$dc") ps+=("$pc") rd+=("$(ratio "$xc" "$dc")") rp+=("$(ratio "$xc" "$pc")")
	done
	printf "$fmt" median "$dir" "" "" "$(median "${xs[@]}")" "" "" "$(median "${ds[@]}")" "" "" \
		"$(median "${ps[@]}")" "$(median "${rd[@]}")" "$(median "${rp[@]}")"
	echo "RESULT afxdp_${dir,,}_mpps_per_cpu afxdp=$(median "${xs[@]}") dpdk=$(median "${ds[@]}") afpacket=$(median "${ps[@]}") ratio_dpdk=$(median "${rd[@]}") ratio_afpacket=$(median "${rp[@]}")"
done
