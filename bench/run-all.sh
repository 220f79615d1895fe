#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Run every benchmark and print one results table.
#
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release
#   bench/run-all.sh build-bench
#
# Needs root for the DPDK and veth parts (testpmd's /var/run/dpdk, network
# namespaces). Takes about 3 minutes. Environment knobs are passed on to the
# scripts (SECS, ROUNDS, CG_PACKETS, CG_SECS, USNET_OPTS); RING_RUNS (5) sets
# how many times ring_bench runs; NO_BUILD=1 skips the build step. Full output of each part goes to stdout first, the
# table comes last.
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
RING_RUNS=${RING_RUNS:-5}
OUT=$(mktemp -d /tmp/usnet-bench-all.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

btype=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)
[[ $btype == Release ]] ||
	echo "warning: $BUILD is a '$btype' build; numbers are meant for Release" >&2
# NO_BUILD=1: measure the binaries as they are (e.g. while the tree does not build).
if [[ ${NO_BUILD:-0} != 1 ]]; then
	cmake --build "$BUILD" -j2 --target ring_bench null_bench >"$OUT/build.log" 2>&1 ||
		{ cat "$OUT/build.log"; exit 1; }
	# The tools may not build yet; the afpacket part then says SKIP.
	cmake --build "$BUILD" -j2 --target usnet-pktgen >>"$OUT/build.log" 2>&1 || true
fi

# Value of key=VALUE from the RESULT line tagged $2 in file $1.
res() {
	sed -n "s/^RESULT $2 .*\\b$3=\\([^ ]*\\).*/\\1/p" "$1" | tail -1
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "######## ring_bench: SPSC ring, 2 threads on cpus 0 and 1, batch 32, 1e8 items, $RING_RUNS runs"
ring=()
for i in $(seq 1 "$RING_RUNS"); do
	"$BUILD/bench/ring_bench" -n 1e8 -b 32 -p 0 -c 1 | tee "$OUT/ring.$i"
	ring+=("$(res "$OUT/ring.$i" ring mpps)")
done
ring_med=$(median "${ring[@]}")
best_i=1
for i in $(seq 1 "$RING_RUNS"); do
	awk -v a="${ring[$((i - 1))]}" -v b="${ring[$((best_i - 1))]}" 'BEGIN { exit !(a > b) }' &&
		best_i=$i
done
ring_best_share="$(res "$OUT/ring.$best_i" ring cpu_prod)%/$(res "$OUT/ring.$best_i" ring cpu_cons)%"
ring_min=$(printf '%s\n' "${ring[@]}" | sort -g | head -1)
ring_max=$(printf '%s\n' "${ring[@]}" | sort -g | tail -1)
echo
echo "######## ring_bench -S under callgrind: instructions per item (enqueue + dequeue, batch 32)"
ring_ipi=n/a
if command -v valgrind >/dev/null; then
	valgrind --tool=callgrind --toggle-collect=ring_roundtrip \
		--callgrind-out-file="$OUT/ring.cg" "$BUILD/bench/ring_bench" -S -n 1e6 -b 32 \
		>"$OUT/ring-cg.log" 2>&1
	ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$OUT/ring.cg")
	items=$(res "$OUT/ring-cg.log" ring_single items)
	ring_ipi=$(awk -v a="$ir" -v b="$items" 'BEGIN { printf "%.2f", a / b }')
	echo "$ir instructions / $items items = $ring_ipi instructions/item"
fi
echo

echo "######## bench/null_vs_testpmd.sh"
bash "$HERE/null_vs_testpmd.sh" "$BUILD" | tee "$OUT/null.log"
echo
echo "######## bench/afpacket_vs_testpmd.sh"
bash "$HERE/afpacket_vs_testpmd.sh" "$BUILD" | tee "$OUT/afpacket.log"
af_rc=${PIPESTATUS[0]}
echo
echo "######## bench/afxdp_vs_testpmd.sh"
bash "$HERE/afxdp_vs_testpmd.sh" "$BUILD" | tee "$OUT/afxdp.log"
ax_rc=${PIPESTATUS[0]}
echo

row() { printf "| %-50s | %12s | %10s | %10s |\n" "$@"; }
nrow() { # label tag
	row "$1" "$(res "$3" "$2" usnet)" "$(res "$3" "$2" dpdk)" "$(res "$3" "$2" ratio)"
}
echo "######## results ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
row benchmark usnet "DPDK 22.11" usnet/DPDK
row "--------------------------------------------------" ------------ ---------- ----------
row "ring SPSC 2 cores, batch 32: Mpps, best of $RING_RUNS" "$ring_max" - -
row "  median (min..max)" "$ring_med ($ring_min..$ring_max)" - -
row "  CPU share prod/cons in the best run" "$ring_best_share" - -
row "ring enq+deq, instructions/item (callgrind)" "$ring_ipi" - -
nrow "null io-fwd: instructions/packet (callgrind)" null_ipp "$OUT/null.log"
nrow "null io-fwd: Mpps per CPU-second (median)" null_mpps_cpu "$OUT/null.log"
nrow "null io-fwd: Mpps, best round" null_mpps_best "$OUT/null.log"
nrow "null io-fwd: Mpps, median round" null_mpps "$OUT/null.log"
if [[ $af_rc == 0 ]]; then
	nrow "afpacket veth TX 60 B: Mpps per CPU-second" afpacket_mpps_cpu "$OUT/afpacket.log"
	nrow "afpacket veth TX 60 B: Mpps, best round" afpacket_mpps_best "$OUT/afpacket.log"
	nrow "afpacket veth TX 60 B: Mpps, median round" afpacket_mpps "$OUT/afpacket.log"
else
	row "afpacket veth TX 60 B" "skipped" - -
	grep -m1 "^SKIP" "$OUT/afpacket.log" || true
fi
if [[ $ax_rc == 0 ]]; then
	for d in tx rx; do
		row "afxdp veth ${d^^} 60 B: Mpps per CPU-second" \
			"$(res "$OUT/afxdp.log" afxdp_${d}_mpps_per_cpu afxdp)" \
			"$(res "$OUT/afxdp.log" afxdp_${d}_mpps_per_cpu dpdk)" \
			"$(res "$OUT/afxdp.log" afxdp_${d}_mpps_per_cpu ratio_dpdk)"
	done
else
	row "afxdp veth 60 B" "skipped" - -
	grep -m1 "^SKIP" "$OUT/afxdp.log" || true
fi
