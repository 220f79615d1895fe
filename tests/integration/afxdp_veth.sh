#!/bin/bash
# SPDX-License-Identifier: MIT
# The afxdp: port on veth pairs between namespaces this test creates:
#  1. usnet-pktgen -> usnet-sink, exact counts and sequence checks, both
#     directions, 60 and 1514 bytes (prog=all); busy_poll with need_wakeup
#     off; zc=off on the second queue;
#  2. two queues of one port (one UMEM, a socket per queue): what is sent on
#     TX queue q arrives on RX queue q of the peer, and comes back from the
#     buffer it arrived in (afxdp_queues);
#  3. prog=steer: frames to the application's IPv4 address and UDP port reach
#     usnet while, at the same time, ping and a UDP exchange between the
#     two kernels work, and the receiving kernel sees none of usnet's frames;
#  4. a SIGKILLed owner leaves its program attached (legacy attach, or
#     pinned by libxdp), the kernel still gets its traffic, and the next
#     open detaches it and works; a clean close leaves no program;
#  5. prog=none with a program someone else loaded (xdp-loader, libxdp's
#     own xsk program);
#  6. bad input gets one clear line: no such interface, interface down, a
#     queue the interface does not have, a busy queue, bad options, not root;
#  7. the XDP program's verdict for crafted frames (afxdp_prog): what steer
#     takes and what it leaves to the kernel, frame by frame.
# Usage: afxdp_veth.sh BUILD_DIR     (exit 77 = skipped)
set -u
BUILD=${1:?usage: afxdp_veth.sh BUILD_DIR}
. "$(dirname "$0")/tools_veth_lib.sh"

tv_init afxdp_veth
NSA=axv_${TV_ID}_a
NSB=axv_${TV_ID}_b
NSC=axv_${TV_ID}_c
A=axv${TV_ID}a
B=axv${TV_ID}b
C1=axv${TV_ID}c
C2=axv${TV_ID}d
IPA=198.18.40.1
IPB=198.18.40.2
tv_ns "$NSA"
tv_ns "$NSB"
tv_ns "$NSC"
# Two queues each way: veth hands what was sent on TX queue q to RX queue q.
tv_veth "$NSA" "$A" "$NSB" "$B" numtxqueues 2 numrxqueues 2
ip -n "$NSA" addr add $IPA/24 dev "$A"
ip -n "$NSB" addr add $IPB/24 dev "$B"
MACB=$(tv_x "$NSB" cat "/sys/class/net/$B/address")

# The kind must be built in here (the build without libxdp has its own test).
err=$(tv_x "$NSB" "$T/usnet-sink" -p "afxdp:$B" -t 0.05 -q 2>&1 >/dev/null)
case $err in
*"not built in"*) echo "FAIL: afxdp is not built in: $err"; exit 1 ;;
*"no AF_XDP sockets"*) skip "the kernel has no AF_XDP: $err" ;;
esac

xdp_attached() { ip -n "$1" -d link show "$2" | grep -q 'prog/xdp'; }

# xfer FROM_NS FROM_IF TO_NS TO_IF N SIZE [RATE [OPTS]]: pktgen -> sink, every
# check; OPTS (",k=v...") go on both ports' specs.
# 5000 pps by default (speed is for bench/). Every frame pktgen sent must
# reach the sink or be counted dropped by a named kernel counter: the
# sending veth's tx_dropped (the peer's XDP queue of 256 frames was full) or
# the receiving veth's rx_dropped (the redirect into the socket failed: no
# fill buffer or a full RX ring, which the port's XDP_STATISTICS, port_drops,
# count too). "none lost" when nothing was counted; a loss no counter
# explains fails with where it was (the sink's gaps) and each hop's counts.
xfer() {
	local fns=$1 fif=$2 tns=$3 tif=$4 n=$5 size=$6 opts=${8:-} status pid
	local what="$2 -> $4, $5 x $6 B${8:+, $8}" atx0 atxd0 brx0 brxd0 atx brxd atxd brx
	local unique dropped
	tv_bg "$TMP/sink.json" "$TMP/sink.err" "$tns" "$T/usnet-sink" -p "afxdp:$tif,prog=all$opts" \
		-n "$n" --idle-timeout 3000 -t 60 --json
	pid=$TV_PID
	tv_wait_line "$TMP/sink.err" "receiving on" || return
	tv_wait_no_tso "$fns" "$fif" ||
		fail "($what): $fif's TSO still on 3 s after the sink attached: $(tv_offloads "$fns" "$fif" 2>&1)"
	atx0=$(tv_counter "$fns" "$fif" tx_packets) atxd0=$(tv_counter "$fns" "$fif" tx_dropped)
	brx0=$(tv_counter "$tns" "$tif" rx_packets) brxd0=$(tv_counter "$tns" "$tif" rx_dropped)
	tv_x "$fns" "$T/usnet-pktgen" -p "afxdp:$fif,prog=all$opts" -n "$n" -s "$size" -r "${7:-5000}" \
		--json -q >"$TMP/pktgen.json" 2>"$TMP/pktgen.err"
	status=$?
	tv_sane "pktgen ($what)" $status "$TMP/pktgen.err"
	tv_json "pktgen ($what): sent exactly $n" "$TMP/pktgen.json" \
		"j['sent'] == $n and j['tx_errors'] == 0 and j['stop'] == 'count'"
	tv_wait "$pid" 70
	status=$?
	tv_sane "sink ($what)" $status "$TMP/sink.err"
	[ $status -eq 0 ] || fail "sink ($what): exit status $status: $(tail -3 "$TMP/sink.err")"
	atx=$(($(tv_counter "$fns" "$fif" tx_packets) - atx0))
	atxd=$(($(tv_counter "$fns" "$fif" tx_dropped) - atxd0))
	brx=$(($(tv_counter "$tns" "$tif" rx_packets) - brx0))
	brxd=$(($(tv_counter "$tns" "$tif" rx_dropped) - brxd0))
	dropped=$((atxd + brxd))
	tv_json "sink ($what): in order, none duplicated/bad/discarded by the port" "$TMP/sink.json" \
		"j['duplicated'] == 0 and j['reordered'] == 0 and j['bad_csum'] == 0 and j['malformed'] == 0 and j['untracked'] == 0 and j['port_errors'] == 0 and j['bytes'] == j['received'] * $size"
	unique=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["unique"])' \
		"$TMP/sink.json" 2>/dev/null)
	local counts="$fif tx_packets +$atx tx_dropped +$atxd, $tif rx_packets +$brx rx_dropped +$brxd, sink $(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
print("unique %d port_drops %d port_errors %d gaps \"%s\"" % (j["unique"], j["port_drops"], j["port_errors"], j["gaps"]))' "$TMP/sink.json" 2>&1)"
	if [ "$unique" = "$n" ]; then
		ok "sink ($what): all $n frames, none lost"
	elif [ -n "$unique" ] && [ "$unique" -lt "$n" ] && [ $((n - unique)) -le $dropped ]; then
		ok "sink ($what): $((n - unique)) of $n lost, every one counted by the kernel ($counts)"
	elif [ $brx -ge "$n" ]; then
		# Seen in section 4 under load: a burst at the start crossed the veth
		# and went to $tif's IP stack instead of its XDP program (kfree_skb
		# OTHERHOST in a trace); no interface or socket counter has them.
		fail "sink ($what): ${unique:-?} of $n arrived, all $n reached $tif but not the socket, none counted dropped ($counts)"
	else
		fail "sink ($what): ${unique:-?} of $n arrived; counted dropped: $dropped ($counts)"
	fi
	if xdp_attached "$tns" "$tif" || xdp_attached "$fns" "$fif"; then
		fail "($what): an XDP program is still attached after both closed"
	else
		ok "($what): no XDP program left on either end"
	fi
}

echo "== 1: pktgen -> sink, both directions"
xfer "$NSA" "$A" "$NSB" "$B" 20000 60
xfer "$NSB" "$B" "$NSA" "$A" 20000 60
xfer "$NSA" "$A" "$NSB" "$B" 5000 1514 5000
xfer "$NSA" "$A" "$NSB" "$B" 5000 60 5000 ",busy_poll=20,need_wakeup=off"
xfer "$NSA" "$A" "$NSB" "$B" 5000 60 5000 ",zc=off,queue=1"
grep -h "afxdp:.*mode" "$TMP/sink.err" | head -2

echo "== 2: two queues on one UMEM"
tv_veth "$NSC" "$C1" "$NSC" "$C2" numtxqueues 2 numrxqueues 2
out=$(tv_x "$NSC" "$BUILD/tests/afxdp_queues" -n 20000 -q 2 "afxdp:$C1,prog=all" \
	"afxdp:$C2,prog=all" 2>&1)
status=$?
echo "$out" | grep -v libbpf
[ $status -eq 0 ] && ok "two queues: 20000 frames each way per queue, on their queue, in order" ||
	fail "two queues: afxdp_queues exit status $status"

echo "== 3: prog=steer next to the kernel's own traffic"
tv_bg "$TMP/sink.json" "$TMP/sink.err" "$NSB" "$T/usnet-sink" \
	-p "afxdp:$B,prog=steer,ip=$IPB,port=9,proto=udp" -n 20000 --idle-timeout 5000 -t 60 \
	--expect 20000 --json
sinkpid=$TV_PID
tv_wait_line "$TMP/sink.err" "receiving on"
noports0=$(tv_x "$NSB" awk '/^Udp:/ {n++; if (n == 2) print $4}' /proc/net/snmp)
# The kernels' own traffic, at the same time: ping, and UDP datagrams echoed.
tv_x "$NSB" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 7777)); s.settimeout(20)
for _ in range(50):
    d, a = s.recvfrom(2048); s.sendto(d, a)
' $IPB >"$TMP/echo.out" 2>&1 &
echopid=$!
sleep 0.3
tv_x "$NSA" ping -c 20 -i 0.05 -W 2 $IPB >"$TMP/ping.out" 2>&1 &
pingpid=$!
tv_x "$NSA" "$T/usnet-pktgen" -p "afxdp:$A,prog=steer,ip=$IPA,port=9" -n 20000 -r 5000 \
	--dst-mac "$MACB" --src-ip $IPA --dst-ip $IPB --dport 9 --json -q \
	>"$TMP/pktgen.json" 2>"$TMP/pktgen.err" &
genpid=$!
udp=$(tv_x "$NSA" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
got = 0
for i in range(50):
    s.sendto(b"x%d" % i, (sys.argv[1], 7777))
    try:
        got += s.recv(2048) == b"x%d" % i
    except socket.timeout:
        pass
print(got)
' $IPB 2>&1)
wait $pingpid
pingst=$?
wait $genpid
wait $echopid
tv_wait "$sinkpid" 70
status=$?
[ "$udp" = 50 ] && ok "steer: 50 UDP datagrams echoed by the kernel meanwhile" ||
	fail "steer: UDP exchange between the kernels: $udp of 50 came back"
[ $pingst -eq 0 ] && grep -q " 0% packet loss" "$TMP/ping.out" &&
	ok "steer: ping between the kernels meanwhile: $(grep -o '[0-9]* received' "$TMP/ping.out")" ||
	fail "steer: ping failed: $(tail -2 "$TMP/ping.out")"
[ $status -eq 0 ] || fail "steer: sink exit status $status: $(tail -3 "$TMP/sink.err")"
tv_json "steer: pktgen sent 20000" "$TMP/pktgen.json" "j['sent'] == 20000"
tv_json "steer: usnet got exactly the 20000 test frames in order, nothing of the kernels'" \
	"$TMP/sink.json" \
	"j['received'] == 20000 and j['lost'] == 0 and j['reordered'] == 0 and j['other'] == 0 and j['frames'] == 20000"
noports1=$(tv_x "$NSB" awk '/^Udp:/ {n++; if (n == 2) print $4}' /proc/net/snmp)
[ $((noports1 - noports0)) -lt 100 ] &&
	ok "steer: the kernel did not see the test frames (UDP NoPorts +$((noports1 - noports0)))" ||
	fail "steer: the kernel saw the test frames too (UDP NoPorts +$((noports1 - noports0)))"

echo "== 4: SIGKILL leaves a program; the next open removes it"
tv_bg "$TMP/k.out" "$TMP/k.err" "$NSB" "$T/usnet-sink" -p "afxdp:$B,prog=all" -t 60
tv_wait_line "$TMP/k.err" "receiving on"
victim=$(pgrep -P "$TV_PID" | head -1)
[ -n "$victim" ] && kill -KILL "$victim"
wait "$TV_PID" 2>/dev/null
if xdp_attached "$NSB" "$B"; then
	ok "after SIGKILL the program stays attached"
else
	fail "after SIGKILL no program is attached (expected the stale one)"
fi
tv_x "$NSA" ping -c 3 -i 0.1 -W 2 $IPB >"$TMP/ping2.out" 2>&1 &&
	ok "the stale program passes the kernel's traffic (ping works)" ||
	fail "ping through the stale program: $(tail -2 "$TMP/ping2.out")"
out=$(tv_x "$NSB" env USNET_LOG=info "$T/usnet-sink" -p "afxdp:$B,prog=all" -t 0.1 -q 2>&1)
grep -q "detached the XDP program of a process that is gone" <<<"$out" &&
	ok "the next open detached the dead process's program" ||
	fail "the next open did not detach the stale program: $out"
xfer "$NSA" "$A" "$NSB" "$B" 5000 60
out=$(tv_x "$NSB" env USNET_LOG=info "$T/usnet-sink" -p "afxdp:$B,prog=all" -t 0.1 -q 2>&1)
grep -q "process that is gone" <<<"$out" &&
	fail "a stale program was found again after clean runs: $out" ||
	ok "no stale program after clean runs"

echo "== 5: prog=none with a program loaded by someone else"
XSKPROG=/usr/lib/$(gcc -print-multiarch)/bpf/xsk_def_xdp_prog.o
if ! command -v xdp-loader >/dev/null || [ ! -f "$XSKPROG" ]; then
	fail "prog=none: needs xdp-loader (xdp-tools) and $XSKPROG (libxdp1)"
else
	tv_x "$NSB" xdp-loader load -m native "$B" "$XSKPROG" >"$TMP/xl.out" 2>&1 ||
		fail "xdp-loader load: $(tail -3 "$TMP/xl.out")"
	xfer_none() {
		tv_bg "$TMP/sink.json" "$TMP/sink.err" "$NSB" "$T/usnet-sink" -p "afxdp:$B,prog=none" \
			-n 3000 --idle-timeout 3000 -t 60 --expect 3000 --json
		local pid=$TV_PID
		tv_wait_line "$TMP/sink.err" "receiving on" || return
		tv_x "$NSA" "$T/usnet-pktgen" -p "afxdp:$A,prog=all" -n 3000 -r 20000 -q \
			>/dev/null 2>&1
		tv_wait "$pid" 70
		tv_json "prog=none: 3000 frames through xdp-loader's program" "$TMP/sink.json" \
			"j['received'] == 3000 and j['lost'] == 0"
	}
	xfer_none
	xdp_attached "$NSB" "$B" && ok "prog=none: the other program is still there after close" ||
		fail "prog=none: usnet removed someone else's program"
	tv_x "$NSB" xdp-loader unload "$B" --all >/dev/null 2>&1
fi

echo "== 6: link state, clear errors"
# usnet_port_link(): up while the veth is up (an AF_XDP socket takes no
# interface ioctls: the port keeps an AF_INET socket for them).
out=$(tv_x "$NSB" "$BUILD/tests/port_roundtrip" open "afxdp:$B,prog=all" 2>&1)
grep -q "^link up" <<<"$out" && ok "link: $(grep '^link' <<<"$out")" ||
	fail "link of an up veth: $(grep -v libbpf <<<"$out")"
# open_err WHAT NS SPEC TEXT [RUNAS]: opening SPEC (usnet-sink in NS, as
# RUNAS) fails with TEXT in its message. Not cli_lib.sh's expect_err: that
# wants exactly one stderr line and an exact status, where here libbpf may
# add lines of its own and only the port's failure to open matters.
open_err() {
	local what=$1 ns=$2 spec=$3 text=$4 out
	out=$(tv_x "$ns" ${5:-} "$T/usnet-sink" -p "$spec" -t 0.1 -q 2>&1 >/dev/null)
	if [ $? -ne 0 ] && grep -qF -- "$text" <<<"$out"; then
		ok "$what: $(grep -F -- "$text" <<<"$out" | head -1)"
	else
		fail "$what: expected an error with '$text', got: $out"
	fi
}
open_err "no such interface" "$NSB" "afxdp:nosuch$TV_ID" "does not exist"
ip -n "$NSC" link add "${C1}x" type veth peer name "${C2}x"
open_err "interface down" "$NSC" "afxdp:${C1}x" "is down"
open_err "queue beyond the interface's" "$NSB" "afxdp:$B,queue=5" "queue 5 does not exist"
open_err "bad zc" "$NSB" "afxdp:$B,zc=maybe" "zc=maybe: expected auto, on or off"
open_err "bad prog" "$NSB" "afxdp:$B,prog=foo" "prog=foo: expected steer, all or none"
open_err "bad ip" "$NSB" "afxdp:$B,ip=1.2.3" "is not an IPv4 address"
open_err "ip without steer" "$NSB" "afxdp:$B,prog=all,port=9" "are for prog=steer"
open_err "unknown option" "$NSB" "afxdp:$B,colour=red" "unknown option 'colour'"
open_err "zc=on on veth" "$NSB" "afxdp:$B,zc=on" "zc=on, but the driver has no AF_XDP zero-copy"
open_err "prog=none without a program" "$NSB" "afxdp:$B,prog=none" "no XDP program"
if command -v setpriv >/dev/null; then
	open_err "not root" "$NSB" "afxdp:$B" "CAP_NET_RAW" \
		"setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all"
else
	fail "not root: setpriv (util-linux) is missing"
fi
# A busy queue: one process has queue 0; a second one wants it too.
tv_bg "$TMP/b.out" "$TMP/b.err" "$NSB" "$T/usnet-sink" -p "afxdp:$B,prog=all" -t 30
busypid=$TV_PID
tv_wait_line "$TMP/b.err" "receiving on"
open_err "busy queue" "$NSB" "afxdp:$B,prog=none" "queue 0 is in use by another AF_XDP socket"
out=$(tv_x "$NSB" "$T/usnet-sink" -p "afxdp:$B,prog=all" -t 0.1 -q 2>&1 >/dev/null)
case $out in
*"cannot share"* | *"queue 0 is in use"*) ok "a second program on the busy interface: $out" ;;
*) fail "a second prog=all open on a busy interface: $out" ;;
esac
kill -TERM "$busypid"
tv_wait "$busypid" 10
xdp_attached "$NSB" "$B" && fail "a program is left after the busy test" ||
	ok "no program left after the busy test"

echo "== 7: the program's verdicts (BPF_PROG_TEST_RUN on crafted frames)"
out=$(tv_x "$NSC" "$BUILD/tests/afxdp_prog" "$C1" 2>&1)
status=$?
echo "$out" | grep -v libbpf
[ $status -eq 0 ] && ok "every steer/all verdict as expected" ||
	fail "afxdp_prog: exit status $status"

echo "afxdp_veth: $fails failed"
[ $fails -eq 0 ]
