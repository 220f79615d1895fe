#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Instructions per frame on usnet's memif receive path, counted by
# callgrind (deterministic: the machine's load does not change them).
#
#   bench/memif_callgrind.sh BUILD_DIR
#
# usnetd (-U null: -i 1) runs under valgrind --tool=callgrind with
# --toggle-collect on FUNC (default run_loop: all of usnetd's forwarding,
# memif RX, switching, batching, the null uplink's TX); usnet-pktgen (native,
# cpu 0) sends COUNT 64-byte frames through memif. usnetd under valgrind is
# ~50x slower than the sender, so the C2S ring is full at every burst: the
# count is mostly the saturated per-frame cost; but when the loaded machine
# starves pktgen, usnetd's empty polls count too (calls= shows how many
# bursts there were). bench/memif_cost.c counts each side exactly. Frames:
# usnetd's uplink tx_frames (usnetctl) at the end. Prints "RESULT memif_cg
# FUNC ir_per_frame=X" for run_loop and, from the same profile, the calls to
# usnet_memif_rx and usnet_tx_burst.
#
# Environment: COUNT (2000000), FUNC (run_loop), KEEP=1.
# Not a test.
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
COUNT=${COUNT:-2000000}
FUNC=${FUNC:-run_loop}
WORK=$(mktemp -d /tmp/memif-cg.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]+"${pids[@]}"}"; do kill -INT "$p" 2>/dev/null || true; done
	for p in "${pids[@]+"${pids[@]}"}"; do wait "$p" 2>/dev/null || true; done
	if [[ ${KEEP:-0} == 1 ]]; then echo "kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
die() { echo "memif_callgrind: $*" >&2; exit 1; }
command -v valgrind >/dev/null || die "valgrind not installed"

valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" --toggle-collect="$FUNC" \
	"$BUILD/daemon/usnetd" -s "$WORK/u.sock" -C "$WORK/u.ctl" -c 1 -U null: -i 1 \
	--auto-ids none -q 2>"$WORK/usnetd.log" &
d=$!
pids+=("$d")
for _ in $(seq 600); do [[ -S $WORK/u.ctl ]] && break; sleep 0.1; done
[[ -S $WORK/u.ctl ]] || die "usnetd did not start: $(tail -5 "$WORK/usnetd.log")"
taskset -c 0 "$BUILD/tools/usnet-pktgen" -p "memif:$WORK/u.sock,id=1" -s 64 -n "$COUNT" \
	--src-mac 02:75:00:00:00:01 -q 2>"$WORK/pktgen.log" || die "pktgen failed: $(cat "$WORK/pktgen.log")"
frames=0
for _ in $(seq 600); do
	frames=$("$BUILD/tools/usnetctl" --socket "$WORK/u.ctl" uplinks --json |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["uplinks"][0]["tx_frames"])')
	[[ $frames -ge $COUNT ]] && break
	sleep 0.2
done
kill -INT "$d"
wait "$d" || true
pids=()
[[ $frames -gt 0 ]] || die "no frame forwarded"
total=$(callgrind_annotate --inclusive=yes "$WORK/cg.out" 2>/dev/null |
	awk '/PROGRAM TOTALS/ && !t { gsub(",", "", $1); t = $1 } END { print t }')
echo "frames forwarded: $frames (sent $COUNT)"
awk -v t="$total" -v f="$frames" -v fn="$FUNC" \
	'BEGIN { printf "RESULT memif_cg %s ir_per_frame=%.2f\n", fn, t / f }'
# Per callee: the calls from usnetd's loop, callees included ("=>" lines of
# the caller tree; the plain inclusive line splits inlined code differently
# from build to build), with the number of calls (empty polls count).
for fn in usnet_memif_rx usnet_tx_burst; do
	callgrind_annotate --tree=caller --inclusive=yes "$WORK/cg.out" 2>/dev/null |
		awk -v f="$frames" -v fn="$fn" '$0 ~ ("=> .*:" fn " \\(") && !done {
			n = $1; gsub(",", "", n); c = $NF; gsub("[(x),]", "", c)
			printf "RESULT memif_cg %s(calls from run_loop) ir_per_frame=%.2f calls=%s\n", fn, n / f, c
			done = 1 }'
done
callgrind_annotate "$WORK/cg.out" 2>/dev/null | sed -n '/Ir.*file:function/,/Auto-annotated/p' | grep -v Auto-annotated | head -20
