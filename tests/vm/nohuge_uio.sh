#!/usr/bin/env bash
# VM test of the PCI drivers without hugepages, through VFIO and through
# uio_pci_generic (tests/vm/guest/nohuge-uio-test.sh). One boot: no
# hugetlbfs and no hugepages (usnet.hugepages=0), kernel command line
# intel_iommu=on iommu=pt (identity IOMMU domains, so UIO's physical
# addresses reach memory). Each of virtio-net, e1000 and e1000e sends N
# frames through vfio-pci and N through uio_pci_generic, all on 4 KiB DMA
# pages; here on the host, tshark counts them in QEMU's pcap of each NIC:
# exactly N per run, in sequence, with valid IPv4 and UDP checksums.
#
# usage: nohuge_uio.sh [-v] [-n FRAMES] [BUILD_DIR]
#   BUILD_DIR  a usnet build with tools/usnet-pktgen (default <repo>/build)
#   -n FRAMES  frames per run (default 2000)
#   -v         show the guest console while it runs
# Environment: USNET_VM_CACHE (kernel cache), USNET_VM_WORK (work files,
# default BUILD_DIR/vm-test/nohuge_uio).
# Exit status: 0 pass, 1 fail, 77 skip ("SKIP: reason"). In ctest as
# vm.nohuge_uio.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$script_dir/lib.sh" # repo_root, USNET_VM_CACHE, skip, vm_args ...

n=2000
vm_args "[-v] [-n FRAMES] [BUILD_DIR]" "$repo_root/build" -n n -- "$@"
work=${USNET_VM_WORK:-$build/vm-test/nohuge_uio}

vm_need_rig

command -v tshark >/dev/null || skip "tshark not found (apt-get install tshark)"
[ -x "$build/tools/usnet-pktgen" ] || { echo "nohuge_uio: $build/tools/usnet-pktgen not built" >&2; exit 1; }

t_all=$(now)
mkdir -p "$work"
vm_get_kernel

"$script_dir/mkinitramfs.sh" "$work/initramfs.cpio.gz" \
    --script "$script_dir/guest/nohuge-uio-test.sh" --bin "$build/tools/usnet-pktgen" 2>/dev/null

nics="virtio e1000 e1000e"
# Every check the guest must PASS; a SKIP or a missing one fails the test.
expect="no-hugepages iommu-pt uio-4k-refused-while-movable"
for nic in $nics; do expect+=" vfio-4k-$nic uio-4k-$nic"; done

pcap=$work/pcap
rm -rf "$pcap"
mkdir -p "$pcap"
t=$(now)
rc=0
"$script_dir/run-vm.sh" "${verbose[@]+"${verbose[@]}"}" --initrd "$work/initramfs.cpio.gz" \
    --timeout 400 --log "$work/console.log" --pcap "$pcap" --hugepages 0 \
    --append "iommu=pt nohuge.n=$n" --expect "$expect" >"$work/results.txt" || rc=$?
t_vm=$(since "$t")
cat "$work/results.txt"
log=$work/console.log

# ---- host side: the frames on the wire ------------------------------------------
# Each NIC's pcap: exactly n UDP frames from each run's source address, in
# sequence, with good checksums (vm_pcap_seq_check in lib.sh).
host_fail=0
for nic in $nics; do
    vm_pcap_seq_check NOHUGE "vfio-4k-$nic-wire" "$pcap/$nic.pcap" "ip.src==198.18.10.1" "$n"
    vm_pcap_seq_check NOHUGE "uio-4k-$nic-wire" "$pcap/$nic.pcap" "ip.src==198.18.11.1" "$n"
done

echo "--- from the guest ($log)"
tr -d '\r' <"$log" | grep -a '^NOHUGE ' | grep -v '^NOHUGE json' || true
echo "nohuge_uio: VM run ${t_vm} s, total $(since "$t_all") s (n=$n)"
if [ "$rc" -ne 0 ] || [ "$host_fail" -ne 0 ]; then
    echo "nohuge_uio: FAIL (run-vm.sh status $rc, log $log)"
    exit 1
fi
echo "nohuge_uio: PASS"
