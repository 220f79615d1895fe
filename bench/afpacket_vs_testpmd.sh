#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Transmit rate on AF_PACKET over a veth pair: usnet-pktgen on an afpacket:
# port against DPDK's testpmd (net_af_packet, --forward-mode=txonly) on the
# same veth, in the same run, 60-byte frames (64 B on a wire, with the FCS),
# bursts of 32, one sending core each (cpu 1).
#
#   bench/afpacket_vs_testpmd.sh BUILD_DIR
#
# Both rates are read the same way: from the receiving veth's kernel counter
# (/sys/class/net/PEER/statistics/rx_packets) over SECS seconds, after a 1 s
# warm-up, while the sender keeps sending. The veth pair lives in a network
# namespace this script creates and deletes; nothing leaves it. The frames go
# to a MAC no one owns (02:00:00:00:00:xx), so the peer's stack drops them
# after counting them.
#
# Environment: SECS (5), ROUNDS (3), KEEP=1 keeps the logs.
# Output: a table and "RESULT afpacket_mpps usnet=X dpdk=Y ratio=Z".
# Exits 77 with "SKIP: reason" when something it needs is missing (root,
# netns, the tools, a working afpacket: port), 1 if a measurement failed.
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
PKTGEN=$BUILD/tools/usnet-pktgen
USNET_OPTS=${USNET_OPTS:-} # e.g. ",tx=ring,qdisc_bypass=1", appended to afpacket:VETH
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3}
WARM=1
SIZE=60
BURST=32
CPU=1
NS=usnet-afbench-$$
VA=afb$$a # sender side: pktgen / testpmd attach here
VB=afb$$b # receiver side: its rx_packets is the measure
PREFIX=usnetafbench$$
WORK=$(mktemp -d /tmp/usnet-afpacket-bench.XXXXXX)
SENDER_PID=

skip() {
	echo "SKIP: $*"
	exit 77
}
die() {
	echo "afpacket_vs_testpmd: $*" >&2
	exit 1
}

cleanup() {
	if [[ -n $SENDER_PID ]] && kill -0 "$SENDER_PID" 2>/dev/null; then
		kill -INT "$SENDER_PID" 2>/dev/null || true
		sleep 0.5
		kill -KILL "$SENDER_PID" 2>/dev/null || true
	fi
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "/var/run/dpdk/$PREFIX"
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "logs kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

[[ $(id -u) == 0 ]] || skip "needs root (network namespace, veth, AF_PACKET)"
command -v ip >/dev/null || skip "iproute2 not installed"
command -v dpdk-testpmd >/dev/null || skip "dpdk-testpmd not installed (apt-get install dpdk-dev)"
[[ -x $PKTGEN ]] || skip "$PKTGEN not built"
mkdir -p /var/run/dpdk

ip netns add "$NS" || skip "cannot create a network namespace"
ip -n "$NS" link add "$VA" type veth peer name "$VB" || skip "cannot create a veth pair"
# No IPv6 autoconfiguration chatter on the counted interface.
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 || true
ip netns exec "$NS" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 || true
for i in lo "$VA" "$VB"; do
	ip -n "$NS" link set "$i" up
done

# /sys/class/net shows the namespace's devices only from inside it.
rx_count() {
	ip netns exec "$NS" cat "/sys/class/net/$VB/statistics/rx_packets"
}

# The sending core's jiffies: user nice system idle iowait irq softirq steal.
cpu_times() {
	awk -v c="cpu$CPU" '$1 == c { print $2, $3, $4, $5, $6, $7, $8, $9 }' /proc/stat
}

# schedstat's first field: ns the task has run on a CPU (user + kernel,
# including the softirq work done on its behalf in its own context).
runtime_ns() {
	awk '{ print $1 }' "$1/schedstat" 2>/dev/null || echo 0
}

# Rate at the receiver over SECS seconds, in Mpps, while sending task $1
# (a /proc/PID[/task/TID] directory) runs. The sending core's time split goes
# to $WORK/cpusplit ("user% sys% softirq%"), the task's CPU share to
# $WORK/share.
measure() {
	local task=$1 c0 c1 t0 t1 j0 j1 r0 r1
	c0=$(rx_count)
	j0=$(cpu_times)
	r0=$(runtime_ns "$task")
	t0=$(date +%s%N)
	sleep "$SECS"
	c1=$(rx_count)
	j1=$(cpu_times)
	r1=$(runtime_ns "$task")
	t1=$(date +%s%N)
	awk -v r="$((r1 - r0))" -v t="$((t1 - t0))" 'BEGIN { printf "%.0f", 100 * r / t }' \
		>"$WORK/share"
	echo "$j0 $j1" | awk '{ for (i = 1; i <= 8; i++) { d[i] = $(i + 8) - $i; t += d[i] }
		if (t == 0) t = 1
		printf "%.0f %.0f %.0f\n", 100 * (d[1] + d[2]) / t, 100 * (d[3] + d[6]) / t,
			100 * d[7] / t }' >"$WORK/cpusplit"
	awk -v c="$((c1 - c0))" -v t="$((t1 - t0))" 'BEGIN { printf "%.3f", c / (t / 1e9) / 1e6 }'
}

# Sets UM to the rate in Mpps, or FAILED.
run_usnet() {
	local log=$1
	UM=FAILED
	# -t bounds the run; the measurement window sits inside it.
	ip netns exec "$NS" taskset -c $CPU timeout -s INT $((WARM + SECS + 30)) \
		"$PKTGEN" -p "afpacket:$VA$USNET_OPTS" -s $SIZE -b $BURST -q -t $((WARM + SECS + 2)) \
		>"$log" 2>&1 &
	SENDER_PID=$!
	sleep $WARM
	if ! kill -0 "$SENDER_PID" 2>/dev/null; then
		wait "$SENDER_PID" || true
		SENDER_PID=
		return
	fi
	# ip netns exec and taskset exec; timeout forks: pktgen is its child.
	UM=$(measure "/proc/$(pgrep -P "$SENDER_PID" | head -1)")
	US=$(cat "$WORK/cpusplit")
	UH=$(cat "$WORK/share")
	wait "$SENDER_PID" || true
	SENDER_PID=
}

TESTPMD=(dpdk-testpmd --no-huge -m 256 --no-pci --vdev "net_af_packet0,iface=$VA" -l 0-$CPU
	--file-prefix "$PREFIX" --log-level=lib.eal:error --
	--forward-mode=txonly --txpkts=$SIZE --burst=$BURST --nb-cores=1
	--total-num-mbufs=16384 -i)

# The task directory of testpmd's forwarding thread (rte-worker-N), or "".
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

# Sets DM to the rate in Mpps, or FAILED.
run_dpdk() {
	local log=$1
	DM=FAILED
	rm -f "$WORK/dpdk-mpps"
	{
		for _ in $(seq 1 300); do
			grep -q "testpmd>" "$log" 2>/dev/null && break
			sleep 0.1
		done
		echo start
		sleep $WARM
		measure "$(testpmd_worker)" >"$WORK/dpdk-mpps"
		echo stop
		sleep 0.5
		echo quit
	} | ip netns exec "$NS" timeout -s INT $((WARM + SECS + 60)) "${TESTPMD[@]}" \
		>"$log" 2>&1 || true
	if [[ -s $WORK/dpdk-mpps ]] && grep -q "Forward statistics" "$log"; then
		DM=$(cat "$WORK/dpdk-mpps")
		DS=$(cat "$WORK/cpusplit")
		DH=$(cat "$WORK/share")
	fi
}

# Does the afpacket: port work at all? A short send answers it, and its
# error message says why not.
if ! ip netns exec "$NS" timeout 10 "$PKTGEN" -p "afpacket:$VA$USNET_OPTS" -s $SIZE -n 1000 -q \
	>"$WORK/probe.log" 2>&1; then
	skip "usnet-pktgen on afpacket:$VA does not work yet: $(tail -1 "$WORK/probe.log")"
fi

echo "== AF_PACKET over veth, TX of ${SIZE}-byte frames, burst $BURST, cpu $CPU, $SECS s windows"
echo "   $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   usnet: ip netns exec NS taskset -c $CPU $PKTGEN -p afpacket:VETH$USNET_OPTS -s $SIZE -b $BURST -q -t T"
echo "   DPDK:  ip netns exec NS ${TESTPMD[*]}  (start; measure; stop)"
echo "   rate:  delta of /sys/class/net/PEER/statistics/rx_packets over $SECS s, after ${WARM} s warm-up"
echo "   share: CPU time the sending thread got / wall time (schedstat); Mpps/CPU = Mpps / share"
echo "   u/s/si: cpu$CPU's user/system/softirq % over the window (/proc/stat, all processes)"
per_cpu() { awk -v m="$1" -v s="$2" 'BEGIN { printf "%.3f", (s > 0 ? m * 100 / s : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
best() { printf '%s\n' "$@" | sort -g | tail -1; }
fmt="   %-6s %10s %5s %8s %-9s  %10s %5s %8s %-9s  %6s %9s\n"
printf "$fmt" round "usnet Mpps" share Mpps/CPU u/s/si "DPDK Mpps" share Mpps/CPU u/s/si \
	ratio ratio/CPU
umpps=() dmpps=() ucpu=() dcpu=() ratios=() cratios=()
for r in $(seq 1 "$ROUNDS"); do
	run_usnet "$WORK/usnet.$r.log"
	[[ $UM != FAILED ]] || { cat "$WORK/usnet.$r.log"; die "usnet-pktgen failed"; }
	run_dpdk "$WORK/dpdk.$r.log"
	[[ $DM != FAILED ]] || { tail -30 "$WORK/dpdk.$r.log"; die "testpmd failed"; }
	uc=$(per_cpu "$UM" "$UH")
	dc=$(per_cpu "$DM" "$DH")
	ra=$(ratio "$UM" "$DM")
	rc=$(ratio "$uc" "$dc")
	printf "$fmt" "$r" "$UM" "$UH%" "$uc" "${US// //}" "$DM" "$DH%" "$dc" "${DS// //}" "$ra" "$rc"
	umpps+=("$UM") dmpps+=("$DM") ucpu+=("$uc") dcpu+=("$dc") ratios+=("$ra") cratios+=("$rc")
done
u_med=$(median "${umpps[@]}") d_med=$(median "${dmpps[@]}") r_med=$(median "${ratios[@]}")
u_best=$(best "${umpps[@]}") d_best=$(best "${dmpps[@]}")
uc_med=$(median "${ucpu[@]}") dc_med=$(median "${dcpu[@]}") rc_med=$(median "${cratios[@]}")
printf "$fmt" median "$u_med" "" "$uc_med" "" "$d_med" "" "$dc_med" "" "$r_med" "$rc_med"
printf "$fmt" best "$u_best" "" "" "" "$d_best" "" "" "" "$(ratio "$u_best" "$d_best")" ""
echo "   receiver drops (rx_dropped on $VB): $(ip netns exec "$NS" cat "/sys/class/net/$VB/statistics/rx_dropped")"
echo "RESULT afpacket_mpps usnet=$u_med dpdk=$d_med ratio=$r_med"
echo "RESULT afpacket_mpps_best usnet=$u_best dpdk=$d_best ratio=$(ratio "$u_best" "$d_best")"
echo "RESULT afpacket_mpps_cpu usnet=$uc_med dpdk=$dc_med ratio=$rc_med"
