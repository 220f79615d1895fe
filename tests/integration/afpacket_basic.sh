#!/bin/bash
# SPDX-License-Identifier: MIT
# afpacket: ports on both ends of a veth pair, in a namespace of our own:
# 1000 frames cross intact and in order with tx=mmsg and tx=ring, with and
# without qdisc_bypass, and with a 2-queue fanout receiver; the kernel's
# interface counters agree; a GSO super-frame is cut up (or, the pool too
# small, dropped whole and counted); errors say what is wrong.
# Usage: afpacket_basic.sh BUILD_DIR     (exit 77 = skipped)
set -u
BUILD=${1:?usage: afpacket_basic.sh BUILD_DIR}
HELPER=$BUILD/tests/port_roundtrip
NS=afpacket_basic_$$
A=afpb0
B=afpb1
N=1000
# shellcheck source=tools_veth_lib.sh
. "$(dirname "$0")/tools_veth_lib.sh"
nsx() { tv_x "$NS" "$@"; }
counter() { tv_counter "$NS" "$@"; }

tv_setup afpacket_basic
[ -x "$HELPER" ] || { echo "FAIL: $HELPER is not built"; exit 1; }
tv_ns "$NS"
tv_veth "$NS" "$A" "$NS" "$B"

# --- the port describes the interface --------------------------------------
out=$(nsx "$HELPER" open "afpacket:$A") || fail "open afpacket:$A: $out"
mac=$(nsx cat "/sys/class/net/$A/address")
grep -qx "mac $mac" <<<"$out" && ok "port MAC is the interface's ($mac)" ||
	fail "port MAC: expected $mac, got: $out"
grep -qx "mtu 1500" <<<"$out" && ok "MTU 1500" || fail "MTU: $out"
grep -q "^link up speed 10000" <<<"$out" && ok "link up, 10000 Mb/s" || fail "link: $out"

out=$(nsx "$HELPER" open "afpacket:$A,tx=ring" 4 2>&1)
grep -qx "queues 4 4" <<<"$out" && ok "4 RX queues (one fanout group) and 4 TX rings" ||
	fail "4 queues: $out"

# IFF_PROMISC (0x100) while the port is open with conf.promisc, not after.
out=$(nsx "$HELPER" open "afpacket:$A" 1 promisc 2>&1)
flags=$(sed -n 's/^flags //p' <<<"$out")
after=$(nsx cat "/sys/class/net/$A/flags")
if [ -n "$flags" ] && (((flags & 0x100) != 0 && (after & 0x100) == 0)); then
	ok "promiscuous while open (flags $flags), not after ($after)"
else
	fail "promisc: flags while open '$flags', after '$after': $out"
fi

# --- frames across the wire --------------------------------------------------
wire() { # DESCRIPTION TXSPEC RXSPEC [helper options]
	local what=$1 tx=$2 rx=$3 txif rxif
	shift 3
	txif=${tx#afpacket:}; txif=${txif%%,*}
	rxif=${rx#afpacket:}; rxif=${rxif%%,*}
	local rx0 tx0 rx1 tx1 out
	rx0=$(counter "$rxif" rx_packets)
	tx0=$(counter "$txif" tx_packets)
	if ! out=$(nsx "$HELPER" wire -n "$N" "$@" "$tx" "$rx" 2>&1); then
		fail "$what: $out"
		return
	fi
	rx1=$(counter "$rxif" rx_packets)
	tx1=$(counter "$txif" tx_packets)
	if [ $((rx1 - rx0)) -ne "$N" ] || [ $((tx1 - tx0)) -ne "$N" ]; then
		fail "$what: kernel counters: $txif tx +$((tx1 - tx0)), $rxif rx +$((rx1 - rx0)), expected +$N"
		return
	fi
	ok "$what: $(grep '^sent' <<<"$out"); kernel: $txif tx +$N, $rxif rx +$N"
}
wire "tx=mmsg" "afpacket:$A,tx=mmsg" "afpacket:$B"
wire "tx=ring" "afpacket:$A,tx=ring" "afpacket:$B"
wire "tx=mmsg,qdisc_bypass=1" "afpacket:$A,tx=mmsg,qdisc_bypass=1" "afpacket:$B"
wire "tx=ring,qdisc_bypass=1" "afpacket:$A,tx=ring,qdisc_bypass=1" "afpacket:$B"
wire "default TX, other direction" "afpacket:$B" "afpacket:$A"
# Tagged frames up to 1518 bytes: TX allows the tag's 4 bytes over MTU+14
# as the kernel does, and RX puts back the tag the kernel took off.
wire "802.1Q-tagged, VID 42" "afpacket:$A" "afpacket:$B" -v 42
# A 2-block ring that nobody reads while 1000 frames arrive: the kernel
# drops most, and every drop must show in rx_dropped.
wire "RX ring overflow, drops counted" "afpacket:$A" "afpacket:$B,blocks=2,block_size=4096" -D
wire "2 RX queues (fanout), 16 flows" "afpacket:$A" "afpacket:$B,blocks=4,block_size=65536" -f 16 -q 2

# One GSO super-frame of 28 segments sent through a PACKET_VNET_HDR socket
# (the kernel carries it whole over the veth): cut up by the port (gso=on
# by default), read 8 at a time; with a pool of 16 it is dropped whole,
# counted in rx_gso_dropped, every packet back in the pool.
gso() { # DESCRIPTION SPEC POOL
	local out
	if out=$(nsx "$HELPER" gso "$A" "$2" "$3" 2>&1); then
		ok "$1: $(grep '^gso:' <<<"$out")"
	else
		fail "$1: $out"
	fi
}
gso "GSO frame cut into 28 segments" "afpacket:$B" 256
gso "GSO frame, pool of 16: dropped whole" "afpacket:$B" 16

# --- errors -------------------------------------------------------------------
expect_error() { # DESCRIPTION SPEC MESSAGE [command prefix...]
	local what=$1 spec=$2 msg=$3 out
	shift 3
	if out=$(nsx "$@" "$HELPER" open "$spec" 2>&1); then
		fail "$what: open $spec succeeded"
	elif grep -qF -- "$msg" <<<"$out"; then
		ok "$what: '$msg'"
	else
		fail "$what: expected '$msg', got: $out"
	fi
}
expect_error "missing interface" "afpacket:doesnotexist" \
	"afpacket: interface 'doesnotexist' does not exist"
expect_error "name too long" "afpacket:abcdefghijklmnopq" "longer than 15 characters"
expect_error "bad tx=" "afpacket:$A,tx=fast" "expected tx=ring or tx=mmsg"
expect_error "bad blocks=" "afpacket:$A,blocks=1" "option blocks=1 is not a number in [2,"
expect_error "bad block_size=" "afpacket:$A,block_size=5000" "not a multiple of the page size"
expect_error "unknown option" "afpacket:$A,bogus=1" "unknown option 'bogus'"
expect_error "bad gso=" "afpacket:$A,gso=maybe" "expected gso=on or gso=off"
expect_error "gso=on, blocks too small for 64 KiB" "afpacket:$A,gso=on,block_size=65536" \
	"gso=on needs block_size=73728 or more"
# A veth end that is down (its peer stays down too).
if ip -n "$NS" link add afpdown0 type veth peer name afpdown1 2>/dev/null; then
	expect_error "interface down" "afpacket:afpdown0" \
		"afpacket: interface 'afpdown0' is down (bring it up first: ip link set afpdown0 up)"
fi
if command -v setpriv >/dev/null && su -s /bin/sh nobody -c "test -x '$HELPER'" 2>/dev/null; then
	expect_error "no CAP_NET_RAW" "afpacket:$A" \
		"afpacket: opening a packet socket needs CAP_NET_RAW (run as root)" \
		setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all
else
	echo "note: not checking the no-CAP_NET_RAW message (no setpriv, or $HELPER not reachable as nobody)"
fi

[ "$fails" -eq 0 ] && { echo "PASS"; exit 0; }
echo "FAILED: $fails check(s)"
exit 1
