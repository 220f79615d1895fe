#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Instructions per frame on usnet's memif client transmit path (the
# sender's side of the usnetd and direct-hop benchmarks), by callgrind:
# usnet-pktgen -p memif: under valgrind --tool=callgrind, --toggle-collect
# on usnet_memif_tx, sends COUNT 64-byte frames to a native usnetd
# (-U null: -i 1). Prints "RESULT memif_tx_cg ir_per_frame=X" (the client's
# copy, descriptor writes, index publication and kick check, per frame).
#
#   bench/memif_tx_callgrind.sh BUILD_DIR        COUNT (300000), KEEP=1
# Not a test.
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
COUNT=${COUNT:-300000}
WORK=$(mktemp -d /tmp/memif-txcg.XXXXXX)
d=
cleanup() {
	[[ -n $d ]] && { kill -INT "$d" 2>/dev/null || true; wait "$d" 2>/dev/null || true; }
	if [[ ${KEEP:-0} == 1 ]]; then echo "kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
"$BUILD/daemon/usnetd" -s "$WORK/u.sock" -C "$WORK/u.ctl" -c 1 -U null: -i 1 --auto-ids none \
	-q 2>"$WORK/usnetd.log" &
d=$!
for _ in $(seq 100); do [[ -S $WORK/u.ctl ]] && break; sleep 0.05; done
valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" --toggle-collect=usnet_memif_tx \
	"$BUILD/tools/usnet-pktgen" -p "memif:$WORK/u.sock,id=1" -s 64 -n "$COUNT" \
	--src-mac 02:75:00:00:00:01 -q 2>"$WORK/pktgen.log"
total=$(callgrind_annotate "$WORK/cg.out" 2>/dev/null |
	awk '/PROGRAM TOTALS/ && !t { gsub(",", "", $1); t = $1 } END { print t }')
awk -v t="$total" -v f="$COUNT" 'BEGIN { printf "RESULT memif_tx_cg ir_per_frame=%.2f\n", t / f }'
callgrind_annotate "$WORK/cg.out" 2>/dev/null | sed -n '/Ir.*file:function/,/Auto-annotated/p' |
	grep -v Auto-annotated | head -12
