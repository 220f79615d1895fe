#!/usr/bin/env bash
# Smoke test of the VM rig: boots the test VM and checks that its three NICs
# are there, each in an IOMMU group, bindable to vfio-pci (/dev/vfio/N, a
# type1v2 container, DMA map, BAR0 mmap) and to uio_pci_generic.
#
# usage: smoke.sh [-v]      (-v: show the guest console while it runs)
# Environment: USNET_VM_CACHE (kernel cache, default <repo>/build/vm-cache),
# USNET_VM_WORK (initramfs, log, pcaps; default <repo>/build/vm-test/smoke).
# Exit status: 0 pass, 1 fail, 77 skip (prints "SKIP: reason").
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$script_dir/lib.sh" # repo_root, USNET_VM_CACHE, skip, vm_args ...
work=${USNET_VM_WORK:-$repo_root/build/vm-test/smoke}
vm_args "[-v]" - -- "$@"

# Facilities; in CI all of them are installed.
vm_need_rig

t_all=$(now)
mkdir -p "$work"

t=$(now)
vm_get_kernel
t_kernel=$(since "$t")

bins=()
if command -v cc >/dev/null; then
    cc -std=gnu11 -O2 -Wall -Wextra -Werror -o "$work/vfio-probe" \
        "$script_dir/guest/vfio-probe.c"
    bins=(--bin "$work/vfio-probe")
else
    echo "smoke: no C compiler: the VFIO container checks will SKIP" >&2
fi

t=$(now)
"$script_dir/mkinitramfs.sh" "$work/initramfs.cpio.gz" \
    --script "$script_dir/guest/smoke-test.sh" "${bins[@]+"${bins[@]}"}"
t_initrd=$(since "$t")

# Every check the guest must PASS (vfio-probe's only when it was built).
expect="irq-remapping uio-module uio-bind-e1000"
for n in virtio-net e1000 e1000e; do expect+=" pci-$n iommu-group-$n vfio-bind-$n"; done
[ ${#bins[@]} -eq 0 ] || expect+=" vfio-container vfio-dma-map vfio-device-0000:00:03.0
    vfio-device-0000:00:04.0 vfio-device-0000:00:05.0"

t=$(now)
rm -rf "$work/pcap"
rc=0
"$script_dir/run-vm.sh" "${verbose[@]+"${verbose[@]}"}" --expect "$expect" \
    --initrd "$work/initramfs.cpio.gz" --timeout 90 \
    --log "$work/console.log" --pcap "$work/pcap" || rc=$?
t_vm=$(since "$t")

# filter-dump wrote a pcap header for every NIC.
if [ "$rc" -eq 0 ]; then
    for nic in virtio e1000 e1000e; do
        [ -s "$work/pcap/$nic.pcap" ] ||
            { echo "smoke: FAIL: no pcap written for $nic" >&2; rc=1; }
    done
fi

echo "smoke: kernel $(cat "$USNET_VM_CACHE/kernel-release"):" \
     "get-kernel ${t_kernel} s, initramfs ${t_initrd} s, VM run ${t_vm} s," \
     "total $(since "$t_all") s"
case "$rc" in
    0) echo "smoke: PASS" ;;
    77) echo "SKIP: the guest skipped every check" ;;
    *) echo "smoke: FAIL (run-vm.sh status $rc, log $work/console.log)" ;;
esac
exit "$rc"
