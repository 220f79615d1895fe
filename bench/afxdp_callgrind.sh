#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Instructions per frame in the port's TX and RX paths, afxdp: against
# afpacket:, on a veth pair (valgrind --tool=callgrind; user space only: the
# kernel's share of each system call is not counted, and it is most of the
# cost of both kinds).
#
#   bench/afxdp_callgrind.sh BUILD_DIR
#
# TX: usnet-pktgen -n N under callgrind, collecting inside usnet_tx_burst()
#     (inclusive: the kind's tx_burst, reclaiming, freeing, the syscall stub).
# RX: usnet-sink -n N under callgrind, collecting inside usnet_rx_burst(),
#     while an unmeasured usnet-pktgen on afpacket: sends as fast as it can:
#     the slowed-down receiver is saturated, every poll finds a full burst
#     (frames it has no room for are dropped by the kernel, not counted).
# Environment: N (200000).
set -euo pipefail
BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
N=${N:-200000}
NS=usnet-axcg-$$
A=axcg$$a
B=axcg$$b
OUT=$(mktemp -d /tmp/usnet-afxdp-cg.XXXXXX)
trap 'ip netns del $NS 2>/dev/null; rm -rf $OUT' EXIT
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root"; exit 77; }
command -v valgrind >/dev/null || { echo "SKIP: valgrind missing"; exit 77; }
ip netns add "$NS"
ip -n "$NS" link add "$A" type veth peer name "$B"
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip -n "$NS" link set "$A" up
ip -n "$NS" link set "$B" up

ir() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'; }

echo "== instructions per frame (callgrind, user space), $N frames of 60 bytes, $(uname -r)"
for kind in "afxdp:$A,prog=all" "afpacket:$A"; do
	ip netns exec "$NS" valgrind --tool=callgrind --callgrind-out-file="$OUT/tx.cg" \
		--toggle-collect=usnet_tx_burst "$BUILD/tools/usnet-pktgen" -p "$kind" -n "$N" -q \
		>/dev/null 2>&1
	t=$(ir "$OUT/tx.cg")
	printf "   TX %-22s %12s Ir  %6.1f Ir/frame\n" "${kind%%:*}" "$t" "$(echo "$t / $N" | bc -l)"
done
for kind in "afxdp:$B,prog=all" "afpacket:$B,retire_ms=50"; do
	ip netns exec "$NS" valgrind --tool=callgrind --callgrind-out-file="$OUT/rx.cg" \
		--toggle-collect=usnet_rx_burst "$BUILD/tools/usnet-sink" -p "$kind" -n "$N" \
		--idle-timeout 5000 -t 240 --json >"$OUT/sink.json" 2>"$OUT/sink.err" &
	pid=$!
	for _ in $(seq 300); do grep -q "receiving on" "$OUT/sink.err" && break; sleep 0.1; done
	ip netns exec "$NS" "$BUILD/tools/usnet-pktgen" -p "afpacket:$A" -t 300 -q 2>/dev/null &
	gen=$!
	wait $pid || true
	kill -INT $gen
	wait $gen || true
	got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["received"])' "$OUT/sink.json")
	t=$(ir "$OUT/rx.cg")
	printf "   RX %-22s %12s Ir  %6.1f Ir/frame (%s of %s frames received)\n" "${kind%%:*}" "$t" \
		"$(echo "$t / $got" | bc -l)" "$got" "$N"
done
