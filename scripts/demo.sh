#!/usr/bin/env bash
# make demo: pktgen -> sink over a veth pair in a private network namespace,
# a few seconds of traffic, live stats, then the loss/duplicate summary.
# Needs root for the namespace; without it, runs the same tools on null:.
set -euo pipefail

BUILD=${1:-build}
BIN=$BUILD/tools
SECONDS_TX=${DEMO_SECONDS:-5}
RATE=${DEMO_RATE:-200000}
for t in usnet-pktgen usnet-sink; do
	[[ -x $BIN/$t ]] || { echo "demo: $BIN/$t is missing; run 'make' first" >&2; exit 1; }
done

if [[ $(id -u) -ne 0 ]] || ! ip netns add "usnet-demo-probe-$$" 2>/dev/null; then
	echo "demo: no root or no network namespaces: generating on null: instead"
	"$BIN/usnet-pktgen" -p null: -t "$SECONDS_TX"
	exit 0
fi
ip netns del "usnet-demo-probe-$$"

NS=usnet-demo-$$
cleanup() {
	[[ -n ${SINK_PID:-} ]] && kill "$SINK_PID" 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

ip netns add "$NS"
ip -n "$NS" link add demo0 type veth peer name demo1
for i in demo0 demo1; do
	# No IPv6 neighbour discovery chatter: the sink should see only our frames.
	ip netns exec "$NS" sysctl -qw "net.ipv6.conf.$i.disable_ipv6=1"
	ip -n "$NS" link set "$i" up
done

cat <<MSG
== usnet demo ==
namespace $NS: veth demo0 <-> demo1 (addresses 198.18.0.1 -> 198.18.0.2)
usnet-pktgen on afpacket:demo0 sends 60-byte UDP frames at $RATE pps for ${SECONDS_TX}s;
usnet-sink on afpacket:demo1 checks every sequence number and checksum.

MSG
SUMMARY=$(mktemp)
ip netns exec "$NS" "$BIN/usnet-sink" -p afpacket:demo1 -t $((SECONDS_TX + 3)) \
	--idle-timeout 1000 --json >"$SUMMARY" &
SINK_PID=$!
sleep 0.5
ip netns exec "$NS" "$BIN/usnet-pktgen" -p afpacket:demo0 -r "$RATE" -t "$SECONDS_TX" --json \
	>"$SUMMARY.tx"
wait "$SINK_PID" || true
SINK_PID=

echo
echo "== summary =="
echo "pktgen: $(cat "$SUMMARY.tx")"
echo "sink:   $(cat "$SUMMARY")"
echo "kernel: demo1 rx_packets=$(ip netns exec "$NS" cat /sys/class/net/demo1/statistics/rx_packets)"
python3 - "$SUMMARY.tx" "$SUMMARY" <<'PY'
import json, sys
tx = json.load(open(sys.argv[1])); rx = json.load(open(sys.argv[2]))
print(f"sent {tx['sent']} frames, received {rx['unique']}: lost {rx['lost']}, "
      f"duplicated {rx['duplicated']}, reordered {rx['reordered']}, bad checksum {rx['bad_csum']}")
PY
rm -f "$SUMMARY" "$SUMMARY.tx"
