#!/usr/bin/env bash
# usnetd with an unmodified DPDK 22.11 peer: dpdk-testpmd attaches to
# usnetd as a memif client (--vdev=net_memif0,role=client,socket=...) and
# exchanges traffic with a usnet client and with the uplink. usnetd runs
# in a network namespace whose veth is its uplink (afpacket:); the far end
# of the veth is in a second namespace. No address is configured anywhere.
#
#  1. usnet-pktgen (client 1) -> usnetd -> testpmd rxonly: testpmd counts
#     exactly the 50000 frames sent.
#  2. testpmd txonly -> usnetd -> usnet-sink (client 2): every frame testpmd
#     says it sent (its forwarding stopped, then usnetd given the time to
#     empty the ring) usnetd received from it, exactly, and delivered or
#     counted as dropped (client 2's ring full); the sink saw every
#     delivered frame and exits 0.
#  3. the far end of the uplink (usnet-pktgen on afpacket:) -> usnetd ->
#     testpmd rxonly: exactly 50000.
#  4. testpmd txonly to a MAC no client has -> usnetd -> uplink: usnetd
#     received exactly what testpmd sent; the far veth end received exactly
#     what usnetd says it sent on the uplink, and that is what testpmd sent,
#     less what the uplink refused (counted).
#
# usage: usnetd_dpdk.sh BUILD_DIR     exit 77 (SKIP) without testpmd, root or netns
set -euo pipefail
build=${1:?usage: usnetd_dpdk.sh BUILD_DIR}
name=usnetd_dpdk
testpmd=$(command -v dpdk-testpmd || true)
[[ -n "$testpmd" ]] || { echo "SKIP: dpdk-testpmd is not installed (apt-get install dpdk-dev)"; exit 77; }
[[ $(id -u) -eq 0 ]] || { echo "SKIP: not root (testpmd's /var/run/dpdk, namespaces)"; exit 77; }
source "$(dirname "$0")/usnetd_lib.sh"

id=$(($$ % 100000))
ns_d=usnetd_dpdk_d$id ns_f=usnetd_dpdk_f$id
# testpmd leaves its runtime directory (/var/run/dpdk/PREFIX) behind.
extra_cleanup='ip netns del $ns_d 2>/dev/null; ip netns del $ns_f 2>/dev/null; rm -rf /var/run/dpdk/${name}_$$_*'
for ns in "$ns_d" "$ns_f"; do
	ip netns add "$ns" 2>/dev/null || { echo "SKIP: cannot create network namespace $ns"; exit 77; }
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ip -n "$ns" link set lo up
done
ip -n "$ns_d" link add ud$id type veth peer name uf$id
ip -n "$ns_d" link set uf$id netns "$ns_f"
ip -n "$ns_d" link set ud$id up
ip -n "$ns_f" link set uf$id up
USNETD_CMD="ip netns exec $ns_d $usnetd"
# retire_ms=50: the kernel's RX ring then buffers ~0.8 s at these rates,
# more than usnetd may be descheduled for on a busy machine (as the tools'
# veth tests do, tools_veth_lib.sh).
start_usnetd usnetd -u "afpacket:ud$id,retire_ms=50" -i 1 -i 2 -i 5
testpmd_mac=02:75:00:00:00:05

# testpmd NAME MODE [EXTRA...]: a memif client of usnetd as interface 5,
# statistics every second; runs at most 40 s. Rings of 16384 (rsize=14):
# on a busy 2-core machine testpmd's polling core may be descheduled for
# a while, and what the ring cannot hold usnetd drops (and counts).
start_testpmd() {
	local tname=$1 mode=$2
	shift 2
	timeout -s INT 40 "$testpmd" -l 0-1 --no-huge -m 256 --no-pci --file-prefix "${name}_$$_$tname" \
		--vdev="net_memif0,role=client,id=5,socket=$tmp/d.sock,socket-abstract=no,mac=$testpmd_mac,rsize=14" -- \
		--forward-mode="$mode" --stats-period 1 --disable-link-check --nb-cores=1 \
		--total-num-mbufs=8192 "$@" >"$tmp/$tname.testpmd.log" 2>&1 &
	tp_pid=$!
	bg_pids+=("$tp_pid")
	wait_for 'c[5]["connected"]' 20 || fail "$tname: testpmd did not attach"
}
# start_testpmd_i NAME MODE [EXTRA...]: the same, interactive, commands on
# a fifo: `start` now; stop_forwarding_i ends its sending (so that usnetd
# can take every frame it put in the ring before it goes); stop_testpmd quits.
start_testpmd_i() {
	local tname=$1 mode=$2
	shift 2
	mkfifo "$tmp/$tname.in"
	# stdbuf: its statistics reach the log when printed, not at exit.
	timeout -s INT 40 stdbuf -oL "$testpmd" -l 0-1 --no-huge -m 256 --no-pci --file-prefix "${name}_$$_$tname" \
		--vdev="net_memif0,role=client,id=5,socket=$tmp/d.sock,socket-abstract=no,mac=$testpmd_mac,rsize=14" -- \
		-i --forward-mode="$mode" --disable-link-check --nb-cores=1 \
		--total-num-mbufs=8192 "$@" <"$tmp/$tname.in" >"$tmp/$tname.testpmd.log" 2>&1 &
	tp_pid=$!
	bg_pids+=("$tp_pid")
	exec {tp_in}>"$tmp/$tname.in"
	wait_for 'c[5]["connected"]' 20 || fail "$tname: testpmd did not attach"
	echo start >&$tp_in
}
stop_forwarding_i() {
	echo stop >&$tp_in || fail "testpmd's command fifo: $(tail -n 5 "$1")"
	for _ in $(seq 100); do grep -q "Accumulated forward statistics" "$1" && return 0; sleep 0.1; done
	fail "testpmd did not stop forwarding: $(tail -n 5 "$1")"
}
stop_testpmd() {
	if [[ -n "${tp_in:-}" ]]; then
		echo quit >&$tp_in || true
		exec {tp_in}>&-
		tp_in=
	fi
	kill -INT "$tp_pid" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$tp_pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$tp_pid" 2>/dev/null || true
	wait "$tp_pid" 2>/dev/null || true
}
# The largest RX-/TX-packets testpmd printed (its periodic and final stats).
max_stat() { grep -oE "$2-packets: +[0-9]+" "$1" | awk '{print $2}' | sort -n | tail -n 1; }
veth_rx() { ip netns exec "$ns_f" cat /sys/class/net/uf$id/statistics/rx_packets; }

# 1. usnet client -> testpmd.
start_testpmd rx1 rxonly
base=$(q 'c[5]["tx_frames"]')
timeout 60 "$pktgen" -p "memif:$tmp/d.sock,id=1" -n 50000 -r 25000 --src-mac 02:75:00:00:00:01 \
	--dst-mac "$testpmd_mac" -q || fail "pktgen to testpmd"
wait_for "c[5]['tx_frames'] - $base == 50000" 10 || fail "usnetd delivered $(q 'c[5]')"
sleep 1.5 # a stats period
stop_testpmd
rx=$(max_stat "$tmp/rx1.testpmd.log" RX)
[[ "$rx" == 50000 ]] || fail "testpmd received $rx of 50000 from the usnet client"
echo "ok: usnet client -> usnetd -> testpmd: 50000 sent, testpmd RX-packets $rx"

# 2. testpmd -> usnet client.
timeout 60 "$sink" -p "memif:$tmp/d.sock,id=2" -t 30 --idle-timeout 2000 -q --json \
	>"$tmp/sink.out" 2>"$tmp/sink.log" &
sink_pid=$!
bg_pids+=("$sink_pid")
wait_for 'c[2]["connected"]' 10 || fail "sink did not connect"
r5=$(q 'c[5]["rx_frames"]') t2=$(q 'c[2]["tx_frames"] + c[2]["tx_drops"]') s2=$(q 'c[2]["tx_frames"]')
start_testpmd_i tx2 txonly --eth-peer=0,02:75:00:00:00:02 --txpkts=64
sleep 2
stop_forwarding_i "$tmp/tx2.testpmd.log"
tx=$(max_stat "$tmp/tx2.testpmd.log" TX)
# testpmd sends no more: usnetd takes what is left in its ring.
wait_for "c[5]['rx_frames'] - $r5 == $tx" 10 || fail "usnetd took $(q "c[5]['rx_frames'] - $r5") of testpmd's $tx frames"
stop_testpmd
sink_rc=0
wait "$sink_pid" || sink_rc=$?
[[ $sink_rc == 0 ]] || fail "usnet-sink exited with $sink_rc: $(cat "$tmp/sink.out" "$tmp/sink.log")"
read -r got fwd del sunk < <(q "c[5]['rx_frames'] - $r5, c[2]['tx_frames'] + c[2]['tx_drops'] - $t2, c[2]['tx_frames'] - $s2, 0" | tr -d '(),')
sunk=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["frames"])' "$tmp/sink.out")
echo "measure: testpmd TX-packets $tx; usnetd got $got from it, $fwd for client 2 of which $del delivered; sink received $sunk"
(( tx > 0 )) || fail "testpmd sent nothing"
(( got == tx && fwd == got && sunk == del )) || fail "frames unaccounted for"
echo "ok: testpmd -> usnetd -> usnet client: every frame accounted for"

# 3. uplink -> testpmd.
start_testpmd rx3 rxonly
ip netns exec "$ns_f" timeout 60 "$pktgen" -p "afpacket:uf$id" -n 50000 -r 20000 \
	--dst-mac "$testpmd_mac" -q || fail "pktgen on the far end"
wait_for "c[5]['tx_frames'] - $base == 100000" 10 ||
	fail "usnetd did not deliver: $(q 'c[5]'); uplink: $(q 'd["uplinks"][0]')"
sleep 1.5
stop_testpmd
rx=$(max_stat "$tmp/rx3.testpmd.log" RX)
[[ "$rx" == 50000 ]] || fail "testpmd received $rx of 50000 from the uplink"
echo "ok: uplink -> usnetd -> testpmd: 50000 sent on the far veth, testpmd RX-packets $rx"

# 4. testpmd -> uplink.
v0=$(veth_rx) u0=$(q 'd["uplinks"][0]["tx_frames"]') d0=$(q 'd["uplinks"][0]["tx_drops"]') r5=$(q 'c[5]["rx_frames"]')
start_testpmd_i tx4 txonly --eth-peer=0,02:00:00:00:00:99 --txpkts=64
sleep 2
stop_forwarding_i "$tmp/tx4.testpmd.log"
tx=$(max_stat "$tmp/tx4.testpmd.log" TX)
wait_for "c[5]['rx_frames'] - $r5 == $tx" 10 || fail "usnetd took $(q "c[5]['rx_frames'] - $r5") of testpmd's $tx frames"
stop_testpmd
# The veth delivers what usnetd handed to it within a moment; wait for it.
for _ in $(seq 100); do
	(( $(veth_rx) - v0 >= $(q "d['uplinks'][0]['tx_frames'] - $u0") )) && break
	sleep 0.1
done
read -r got up drops < <(q "c[5]['rx_frames'] - $r5, d['uplinks'][0]['tx_frames'] - $u0, d['uplinks'][0]['tx_drops'] - $d0" | tr -d '(),')
far=$(( $(veth_rx) - v0 ))
echo "measure: testpmd TX-packets $tx; usnetd got $got, sent $up on the uplink (refused $drops); far veth end received $far"
(( tx > 0 && got == tx && up + drops == got && far == up )) || fail "uplink frames unaccounted for"
echo "ok: testpmd -> usnetd -> uplink: every frame accounted for"
grep -q "client 'DPDK" "$tmp/usnetd.log" || fail "usnetd did not log the DPDK client"
stop_usnetd
[[ "$usnetd_rc" == 0 ]] || fail "usnetd exited with $usnetd_rc"
echo "PASS: dpdk-testpmd as a memif client of usnetd, to and from a usnet client and the uplink"
