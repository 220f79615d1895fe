#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# usnetd with an afxdp: uplink (prog=steer) on a veth pair between two
# namespaces this test creates: NSD holds usnetd's NIC D, which also has a
# kernel address (the host's own traffic), NSH the far end H.
#  - a memif client's frames leave through D and reach H: exactly N, in order;
#  - frames from H to another client's MAC are steered by the XDP program to
#    usnetd: the uplink takes exactly N, and each reaches the client in order
#    or is counted in its tx_drops (a slow client's full ring), nothing else;
#  - the uplink reports its link up (usnet_port_link());
#  - meanwhile the host's own traffic on D is untouched: ping between the
#    two kernels works and usnetd's uplink receives none of it;
#  - after usnetd stops, no XDP program is left on D.
# Usage: afxdp_usnetd.sh BUILD_DIR     (exit 77 = skipped)
set -u
build=${1:?usage: afxdp_usnetd.sh BUILD_DIR}
name=afxdp_usnetd
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root (namespaces, AF_XDP)"; exit 77; }
. "$(dirname "$0")/usnetd_lib.sh"

id=$(($$ % 100000))
NSD=axd_${id}_d
NSH=axd_${id}_h
D=axd${id}d
H=axd${id}h
extra_cleanup='ip netns del $NSD 2>/dev/null; ip netns del $NSH 2>/dev/null'
for ns in $NSD $NSH; do
	ip netns add "$ns" || fail "cannot create namespace $ns"
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
	ip -n "$ns" link set lo up
done
ip -n "$NSD" link add "$D" type veth peer name "$H" netns "$NSH" || fail "veth pair"
ip -n "$NSD" link set "$D" up
ip -n "$NSH" link set "$H" up
ip -n "$NSD" addr add 198.18.41.1/24 dev "$D"
ip -n "$NSH" addr add 198.18.41.2/24 dev "$H"
MACH=$(ip netns exec "$NSH" cat "/sys/class/net/$H/address")
nsx() { local ns=$1; shift; timeout -k 5 120 ip netns exec "$ns" "$@"; }

USNETD_CMD="ip netns exec $NSD $usnetd" start_usnetd usnetd -v -u "afxdp:$D" -i 1 -i 2
grep -q "afxdp:$D: XDP program (prog=steer) attached" "$tmp/usnetd.log" ||
	fail "usnetd did not say how it attached the program"
grep "afxdp:$D" "$tmp/usnetd.log" | sed 's/^/  log: /'
[[ $(q "d['uplinks'][0]['link_up']") == True ]] || fail "usnetd reports the afxdp uplink's link down"
echo "ok: the afxdp uplink's link is up"

# 1. client 1 -> uplink -> H
nsx "$NSH" "$sink" -p "afpacket:$H,retire_ms=50" -n 20000 --idle-timeout 3000 -t 60 \
	--expect 20000 --json >"$tmp/s1.json" 2>"$tmp/s1.log" &
s1=$!
bg_pids+=("$s1")
for _ in $(seq 100); do grep -q "receiving on" "$tmp/s1.log" && break; sleep 0.1; done
"$pktgen" -p "memif:$tmp/d.sock,id=1" --src-mac 02:75:00:00:00:01 --dst-mac "$MACH" \
	-n 20000 -r 20000 --json -q >"$tmp/p1.json" 2>"$tmp/p1.log" || fail "pktgen on client 1"
wait "$s1" || fail "sink on H: $(tail -3 "$tmp/s1.log")"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(not (j["received"] == 20000 and j["lost"] == 0 and j["reordered"] == 0 and j["other"] == 0))' \
	"$tmp/s1.json" || fail "client 1 -> H: $(cat "$tmp/s1.json")"
echo "ok: client 1 -> afxdp uplink -> H: 20000 frames in order"

# 2. H -> uplink (steered) -> client 2, with the kernels pinging meanwhile
"$sink" -p "memif:$tmp/d.sock,id=2" -n 20000 --idle-timeout 5000 -t 60 --expect 20000 \
	--json >"$tmp/s2.json" 2>"$tmp/s2.log" &
s2=$!
bg_pids+=("$s2")
wait_for "c[2]['connected']" 10 || fail "client 2 did not connect"
rx0=$(q "d['uplinks'][0]['rx_frames']" 2>/dev/null || echo 0)
nsx "$NSH" ping -c 20 -i 0.2 -W 2 198.18.41.1 >"$tmp/ping.log" 2>&1 &
pingpid=$!
# 5000 pps: usnetd never waits for a client; a slow (sanitized, descheduled)
# client whose rings fill loses frames (tx_drops), which is not what this tests.
nsx "$NSH" "$pktgen" -p "afpacket:$H" --dst-mac 02:75:00:00:00:02 -n 20000 -r 5000 -q \
	>/dev/null 2>"$tmp/p2.log" || fail "pktgen on H: $(tail -3 "$tmp/p2.log")"
wait "$pingpid" && grep -q " 0% packet loss" "$tmp/ping.log" ||
	fail "ping between the kernels while usnetd has the uplink: $(tail -2 "$tmp/ping.log")"
echo "ok: the host's own traffic on $D works meanwhile: $(grep -o '[0-9]* received' "$tmp/ping.log")"
wait "$s2" || true
# The afxdp uplink must take all 20000 (none dropped in the port), and every
# one must reach client 2 or be counted in its tx_drops: usnetd never waits
# for a client, so a (sanitized, descheduled) client whose rings fill loses
# frames, counted; what arrives is in order and nothing else.
drops=$(q "c[2]['tx_drops']")
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); d=int(sys.argv[2]); sys.exit(not (j["received"] + d == 20000 and j["received"] >= 1000 and j["reordered"] == 0 and j["other"] == 0 and j["duplicated"] == 0))' \
	"$tmp/s2.json" "$drops" ||
	fail "H -> client 2: $(cat "$tmp/s2.json"); usnetd: $(q "(d['uplinks'][0], c[2])")"
[[ $(q "d['uplinks'][0]['port_rx_dropped']") == 0 ]] || fail "the afxdp uplink dropped frames"
echo "ok: H -> afxdp uplink (steered by MAC) -> client 2: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["received"])' "$tmp/s2.json") frames in order, nothing else, $drops counted as client tx_drops (usnetd does not wait for a slow client)"
rx1=$(q "d['uplinks'][0]['rx_frames']")
[[ $((rx1 - rx0)) -eq 20000 ]] ||
	fail "usnetd's uplink received $((rx1 - rx0)) frames, expected exactly the 20000 test frames (no ping, no ARP)"
echo "ok: usnetd's uplink received exactly the 20000 frames for its clients"

stop_usnetd TERM
[[ $usnetd_rc -eq 0 ]] || fail "usnetd exit status $usnetd_rc"
ip -n "$NSD" -d link show "$D" | grep -q 'prog/xdp' && fail "an XDP program is left on $D"
echo "ok: usnetd stopped cleanly, no XDP program left on $D"
echo "afxdp_usnetd: 0 failed"
