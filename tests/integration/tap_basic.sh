#!/bin/bash
# SPDX-License-Identifier: MIT
# tap: port against the kernel's stack, in a namespace of our own: usnet
# resolves the kernel side's address with ARP and pings it; the kernel's
# ARP reply and echo replies come back. A TAP the port created disappears
# on close; a persistent one is kept, and put back down. Errors are clear.
# Usage: tap_basic.sh BUILD_DIR     (exit 77 = skipped)
set -u
BUILD=${1:?usage: tap_basic.sh BUILD_DIR}
HELPER=$BUILD/tests/port_roundtrip
NS=tap_basic_$$
# shellcheck source=tools_veth_lib.sh
. "$(dirname "$0")/tools_veth_lib.sh"
T=tapb0     # created by the port
P=tapbp0    # persistent, created here
nsx() { tv_x "$NS" "$@"; }

tv_setup tap_basic
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
[ -x "$HELPER" ] || { echo "FAIL: $HELPER is not built"; exit 1; }
tv_ns "$NS"

# --- a TAP the port creates ----------------------------------------------------
ip -n "$NS" link show "$T" >/dev/null 2>&1 && fail "$T exists before the test"
# The kernel also sends one frame longer than usnet's 1920-byte buffers (MTU
# raised to 3000, a 2500-byte datagram to a static neighbour): it must be
# counted in rx_errors, not handed out cut short.
big="import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(bytes(2500), ('198.18.5.9', 9))"
setup="ip addr add 198.18.5.1/24 dev $T && ip link set $T mtu 3000 &&
	ip neigh add 198.18.5.9 lladdr 02:00:00:00:00:09 dev $T && python3 -c \"$big\""
if ! command -v python3 >/dev/null; then
	setup="ip addr add 198.18.5.1/24 dev $T"
	big_errors=0
	echo "note: no python3; not testing a frame longer than the buffers"
else
	big_errors=1
fi
if out=$(nsx "$HELPER" tap -g -e "$big_errors" -c "$setup" \
	"tap:$T" 198.18.5.2 198.18.5.1 2>&1); then
	ok "created $T: ARP reply and 3 echo replies from the kernel; long frame counted ($big_errors)"
else
	fail "created $T: $out"
fi
echo "$out" | grep -E "mac|replies"
ip -n "$NS" link show "$T" >/dev/null 2>&1 && fail "$T still exists after close" ||
	ok "$T is gone after close"

# --- multi-queue ---------------------------------------------------------------
if out=$(nsx "$HELPER" open tap:tapbmq0 4 2>&1) && grep -qx "queues 4 4" <<<"$out"; then
	ok "4 queues (IFF_MULTI_QUEUE)"
else
	fail "4 queues: $out"
fi
ip -n "$NS" link show tapbmq0 >/dev/null 2>&1 && fail "tapbmq0 still exists after close"

# --- a persistent TAP the port attaches to ------------------------------------
if ip -n "$NS" tuntap add dev "$P" mode tap 2>/dev/null; then
	ip -n "$NS" addr add 198.18.6.1/24 dev "$P"
	kmac=$(nsx cat "/sys/class/net/$P/address")
	if out=$(nsx "$HELPER" tap -k "tap:$P" 198.18.6.2 198.18.6.1 2>&1); then
		ok "attached to persistent $P: ARP and 3 echo replies"
	else
		fail "attached to $P: $out"
	fi
	grep -qx "kernel mac $kmac" <<<"$out" && ok "ARP reply carries $P's MAC $kmac" ||
		fail "ARP reply MAC: expected $kmac in: $out"
	grep -q "usnet mac $kmac" <<<"$out" && fail "usnet's MAC equals the kernel side's"
	if ! ip -n "$NS" link show "$P" >/dev/null 2>&1; then
		fail "$P vanished after close"
	elif ip -n "$NS" link show "$P" | grep -q ",UP"; then
		fail "$P was left up; it was down before"
	else
		ok "$P kept after close, and down again as it was"
	fi
else
	echo "note: ip tuntap add failed; not testing a persistent TAP"
fi

# --- errors ---------------------------------------------------------------------
expect_error() { # DESCRIPTION SPEC MESSAGE [QUEUES]
	local out
	if out=$(nsx "$HELPER" open "$2" "${4:-1}" 2>&1); then
		fail "$1: open $2 succeeded"
	elif grep -qF -- "$3" <<<"$out"; then
		ok "$1: '$3'"
	else
		fail "$1: expected '$3', got: $out"
	fi
}
expect_error "name too long" "tap:abcdefghijklmnop" \
	"tap: name 'abcdefghijklmnop' is longer than 15 characters (IFNAMSIZ-1)"
expect_error "name template" "tap:usnet%d" "contains '%'"
expect_error "unknown option" "tap:tapbx0,bogus=1" "unknown option 'bogus'"
ip -n "$NS" link show tapbx0 >/dev/null 2>&1 && fail "tapbx0 left behind by a failed open"
if ip -n "$NS" link add tapbveth0 type veth peer name tapbveth1 2>/dev/null; then
	expect_error "not a TAP" "tap:tapbveth0" \
		"tap: 'tapbveth0' exists and is not a TAP device (driver veth)"
fi
if ip -n "$NS" tuntap add dev tapbsq0 mode tap 2>/dev/null; then
	expect_error "2 queues on a single-queue TAP" "tap:tapbsq0" \
		"tap: 'tapbsq0' exists without IFF_MULTI_QUEUE; asked more than one queue" 2
fi
if ip -n "$NS" tuntap add dev tapbtun0 mode tun 2>/dev/null; then
	expect_error "a TUN" "tap:tapbtun0" "exists and is a TUN (layer 3) device, not a TAP"
fi

[ "$fails" -eq 0 ] && { echo "PASS"; exit 0; }
echo "FAILED: $fails check(s)"
exit 1
