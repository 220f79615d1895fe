#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# TX rate of usnet's e1000/e1000e driver (usnet-pktgen) against DPDK's
# testpmd (em PMD, --forward-mode=txonly) on the same emulated NIC in the
# same VM run: QEMU TCG q35 + intel-iommu, both through vfio-pci, 60-byte
# frames, bursts of 32, each NIC on a QEMU hub of its own (frames are
# dropped by QEMU right after the device model sent them, as in the
# measurements of design.md). Rounds alternate usnet / DPDK.
#
#   bench/e1000_vs_testpmd.sh BUILD_DIR [SECS] [ROUNDS]
#
# usnet's rate is pktgen's own (frames the TX queue accepted over -t SECS);
# DPDK's is testpmd's "Tx-pps" over SECS seconds after a 1 s warm-up. Under
# TCG on a shared host absolute numbers drift: compare the ratio per round.
# Output: a table and "RESULT key=value" lines. Not a test.
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR [SECS] [ROUNDS]}
BUILD=$(cd "$BUILD" && pwd)
SECS=${2:-5}
ROUNDS=${3:-3}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vm=$here/../tests/vm
work=${USNET_VM_WORK:-$here/../build/vm-test/e1000-bench}
export USNET_VM_CACHE=${USNET_VM_CACHE:-$here/../build/vm-cache}
pmds=/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0

command -v dpdk-testpmd >/dev/null || { echo "SKIP: dpdk-testpmd not installed"; exit 77; }
[ -x "$BUILD/tools/usnet-pktgen" ] || { echo "e1000_vs_testpmd: build $BUILD/tools/usnet-pktgen" >&2; exit 1; }
mkdir -p "$work"
"$vm/get-kernel.sh" "$USNET_VM_CACHE" >/dev/null
"$vm/mkinitramfs.sh" "$work/initramfs.cpio.gz" --script "$here/e1000_vs_testpmd.guest.sh" \
    --bin "$BUILD/tools/usnet-pktgen" "$(command -v dpdk-testpmd)" \
    --lib "$pmds/librte_mempool_ring.so.23" "$pmds/librte_net_e1000.so.23" --hugepages 128 2>/dev/null
rc=0
"$vm/run-vm.sh" --initrd "$work/initramfs.cpio.gz" --timeout $((ROUNDS * (SECS + 40) * 2 + 60)) \
    --log "$work/console.log" --net-virtio none --net-e1000 hub:1 --net-e1000e hub:2 \
    --hugepages 128 --append "bench.secs=$SECS bench.rounds=$ROUNDS" >/dev/null || rc=$?
log=$work/console.log

echo "== TX, 60-byte frames, burst 32, QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}') TCG, $(nproc) host CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   usnet: usnet-pktgen -p pci:BDF -t $SECS -s 60 -b 32 -q --json   (its pps)"
echo "   DPDK:  dpdk-testpmd -l 0-1 -n 1 -a BDF -- --forward-mode=txonly --txpkts=60 --burst=32 --nb-cores=1 -i"
echo "          start; 1 s; show port stats 0; $SECS s; show port stats 0 (its Tx-pps)"
printf "   %-7s %5s %12s %12s %7s\n" nic round "usnet pps" "DPDK pps" ratio
tr -d '\r' <"$log" | grep '^BENCH' | while read -r tag nic r u d; do
    if [ "$tag" = BENCH-LOG ]; then echo "   $nic $r $u $d"; continue; fi
    ratio=$(awk -v u="$u" -v d="$d" 'BEGIN { if (d + 0 > 0 && u + 0 > 0) printf "%.2f", u / d; else print "-" }')
    printf "   %-7s %5s %12s %12s %7s\n" "$nic" "$r" "$u" "$d" "$ratio"
    echo "$nic $ratio" >>"$work/ratios"
done
for nic in e1000 e1000e; do
    m=$(tr -d '\r' <"$log" | awk -v n="$nic" '$1 == "BENCH" && $2 == n && $5 + 0 > 0 && $4 + 0 > 0 { print $4 / $5 }' |
        sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f", v[int((NR + 1) / 2)] }')
    echo "RESULT e1000_tx_ratio_$nic=${m:-none}"
done
rm -f "$work/ratios"
[ "$rc" -eq 0 ] || { echo "e1000_vs_testpmd: VM run failed ($rc), log $log" >&2; exit 1; }
