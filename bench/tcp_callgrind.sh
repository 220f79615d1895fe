#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Instructions per TCP segment in the common send and receive paths
# (bench/README.md, "TCP"), with callgrind over bench/tcp_cost.c: two
# stacks on a pair: port in one thread, one connection, BYTES bytes from A
# to B. Prints the inclusive instructions of tcp_cost's send_path() (A's
# usnet_tcp_send + A's usnet_stack_poll: ACKs in, segments out) and
# recv_path() (B's usnet_stack_poll: segments in, ACKs out; and
# usnet_tcp_recv) per data segment, and the parts of them that are the
# TCP/IP checksum (usnet_csum_add) and copying (memcpy), for the copying
# receive and for the zero-copy peek/consume. Instruction counts do not
# depend on the machine's load.
#
#   bench/tcp_callgrind.sh BUILD_DIR          (BYTES: 16M by default)
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR}
BYTES=${BYTES:-$((16 << 20))}
COST=$BUILD/bench/tcp_cost
[ -x "$COST" ] || { echo "tcp_callgrind: $COST not built" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "tcp_callgrind: valgrind is not installed" >&2; exit 1; }
WORK=$(mktemp -d /tmp/tcp-callgrind.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

for mode in copy zc; do
	arg=()
	[ "$mode" = zc ] && arg=(zc)
	valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$mode" "$COST" "$BYTES" "${arg[@]}" \
		>"$WORK/out.$mode" 2>"$WORK/vg.$mode" || { cat "$WORK/out.$mode" "$WORK/vg.$mode"; exit 1; }
	cat "$WORK/out.$mode"
	segs=$(sed -n 's/.* B: \([0-9]*\) segments in.*/\1/p' "$WORK/out.$mode")
	callgrind_annotate --inclusive=yes "$WORK/cg.$mode" 2>/dev/null >"$WORK/ann.$mode"
	inc() { awk -v f="$1" '{ gsub(",", "", $1) } $0 ~ f { print $1; exit }' "$WORK/ann.$mode"; }
	sp=$(inc ':send_path ') rp=$(inc ':recv_path ') cs=$(inc ':usnet_csum_add ')
	mc=$(inc '__memcpy')
	per() { awk -v a="${1:-0}" -v n="$segs" 'BEGIN { printf "%.0f", a / n }'; }
	echo "RESULT tcp_callgrind $mode segments=$segs send_path=$(per "$sp") recv_path=$(per "$rp") csum_both=$(per "$cs") memcpy_both=$(per "$mc") (instructions per data segment)"
done
