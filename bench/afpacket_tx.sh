#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The afpacket: port's TX methods on a veth pair: tx=mmsg and tx=ring, each
# with and without qdisc_bypass=1, 60-byte (64 B on a wire) and 1514-byte
# frames, bursts of 32, one sending core (cpu 1). Then the RX rate with the
# default sender on cpu 1 and the receiver on cpu 0, and the RX retire
# timeout's effect on one-way latency (retire_ms=1 and 8).
#
#   bench/afpacket_tx.sh BUILD_DIR        (a Release build with bench/afpacket_tx)
#
# The rate is the receiving veth's kernel counter (rx_packets) over SECS
# seconds: frames that really crossed. The methods run interleaved, ROUNDS
# times, and the median per method is reported, because other load on the
# machine moves absolute numbers; compare methods within one run. Next to
# it, the sender's CPU time per frame (the veth's receive side included),
# which that load moves much less. The veth pair lives in a namespace this
# script creates and deletes.
#
# Environment: SECS (3), ROUNDS (5), CPU (1), LAT_N (500).
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
BIN=$(cd "$BUILD" && pwd)/bench/afpacket_tx
SECS=${SECS:-3}
ROUNDS=${ROUNDS:-5}
CPU=${CPU:-1}
LAT_N=${LAT_N:-500}
NS=usnet-afptx-$$
A=afptx0
B=afptx1

[[ $(id -u) == 0 ]] || { echo "SKIP: needs root"; exit 77; }
[[ -x $BIN ]] || { echo "SKIP: $BIN is not built"; exit 77; }
ip netns add "$NS" || { echo "SKIP: cannot create a namespace"; exit 77; }
trap 'ip netns del "$NS" 2>/dev/null || true' EXIT
nsx() { ip netns exec "$NS" "$@"; }
nsx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$NS" link add "$A" type veth peer name "$B"
ip -n "$NS" link set "$A" up
ip -n "$NS" link set "$B" up

methods=("tx=mmsg" "tx=ring" "tx=mmsg,qdisc_bypass=1" "tx=ring,qdisc_bypass=1")
declare -A res cpu
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
echo "load before: $(cat /proc/loadavg)"
for size in 60 1514; do
	for ((r = 0; r < ROUNDS; r++)); do
		for m in "${methods[@]}"; do
			line=$(nsx timeout $((SECS + 10)) "$BIN" rate -t "$SECS" -s "$size" -c "$CPU" \
				-p "$B" "afpacket:$A,$m")
			mpps=$(sed -n 's/.*delivered *\([0-9.]*\) Mpps.*/\1/p' <<<"$line")
			ns=$(sed -n 's/.*cpu *\([0-9.]*\) ns.*/\1/p' <<<"$line")
			res["$size $m"]+="$mpps "
			cpu["$size $m"]+="$ns "
		done
	done
done
echo "load after:  $(cat /proc/loadavg)"
printf "%-24s %5s  %-20s %-16s %s\n" method size "median Mpps" "median cpu/frame" "all rounds (Mpps)"
for size in 60 1514; do
	for m in "${methods[@]}"; do
		med=$(median <<<"${res["$size $m"]}")
		ns=$(median <<<"${cpu["$size $m"]}")
		gbps=$(awk -v m="$med" -v s="$size" 'BEGIN {printf "%.2f", m * s * 8 / 1000}')
		printf "%-24s %5s  %-20s %-16s %s\n" "$m" "$size" "$med ($gbps Gb/s)" "$ns ns" \
			"${res["$size $m"]}"
	done
done

echo "RX: default sender on cpu $CPU, receiver on cpu $((1 - CPU)):"
for size in 60 1514; do
	nsx timeout $((SECS + 20)) "$BIN" rate -t $((SECS + 3)) -s "$size" -c "$CPU" "afpacket:$A" \
		>/dev/null &
	sleep 1
	nsx timeout $((SECS + 10)) "$BIN" rx -t "$SECS" -c $((1 - CPU)) "afpacket:$B" |
		sed "s/^/size $size: /"
	wait
done

echo "one-way latency, 60-byte frames $LAT_N times at random moments, receiver on $B:"
for wait in "" "-w"; do
	for ms in 1 8; do
		nsx timeout 60 "$BIN" lat -n "$LAT_N" $wait "afpacket:$A" "afpacket:$B,retire_ms=$ms"
	done
done
