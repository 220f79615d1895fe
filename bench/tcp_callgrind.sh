#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Instructions per TCP segment in the common send and receive paths,
# counted by callgrind over bench/tcp_cost.c (two stacks on a pair: port,
# one connection, N one-MSS segments; deterministic, the machine's load
# does not change the counts).
#
#   bench/tcp_callgrind.sh BUILD_DIR      (a Release build with -g helps the names)
#
# Prints "RESULT tcp_cg PATH ir_per_seg=X" for send_seg (usnet_tcp_send:
# copy into the queue, header, checksum, IPv4, tx_burst), rx_poll (the
# receiver's poll: rx_burst, Ethernet, IPv4, tcp_input, the ACK every
# second segment), recv_seg (usnet_tcp_recv's copy out), ack_poll (the
# sender's poll taking the ACK), and inside them xmit, tcp_sndq_append,
# tcp_on_ack and tcp_input.
#
# Environment: N (100000), BATCH (1: segments sent before each of the
# receiver's polls, up to 32; 16 is closer to a stream through usnetd,
# whose receive bursts get one stretch ACK), KEEP=1 keeps the profile.
# Not a test.
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
N=${N:-100000}
BATCH=${BATCH:-1}
BIN=$BUILD/bench/tcp_cost
die() { echo "tcp_callgrind: $*" >&2; exit 1; }
command -v valgrind >/dev/null || die "valgrind not installed"
[[ -x $BIN ]] || die "$BIN is not built (cmake --build $BUILD --target tcp_cost)"
OUT=$(mktemp /tmp/tcp-cg.XXXXXX)
trap '[[ ${KEEP:-0} == 1 ]] && echo "kept: $OUT" || rm -f "$OUT"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$OUT" "$BIN" "$N" "$BATCH" >/dev/null 2>&1 ||
	die "tcp_cost failed under valgrind"
callgrind_annotate --inclusive=yes "$OUT" 2>/dev/null | python3 -c '
import re, sys
n = int(sys.argv[1])
want = ["send_seg", "rx_poll", "recv_seg", "ack_poll", "xmit", "tcp_sndq_append",
        "tcp_on_ack", "tcp_input"]
seen = {}
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+) .*:([A-Za-z_]\w*)(\.[\w.]+)? \[", line)
    if m and m.group(2) in want and m.group(2) not in seen:
        seen[m.group(2)] = int(m.group(1).replace(",", ""))
for w in want:
    if w in seen:
        print("RESULT tcp_cg %s ir_per_seg=%d" % (w, seen[w] // n))
' "$N"
