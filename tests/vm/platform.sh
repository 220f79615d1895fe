#!/usr/bin/env bash
# VM test of the PCI platform layer and usnetctl (guest/platform-test.sh):
# usnetctl status lists the NICs; bind/unbind round trips give each NIC its
# kernel driver back; through VFIO, pci_probe reads config space, maps the
# BARs, allocates and maps DMA memory, and gets interrupts delivered; on
# uio_pci_generic each NIC is refused, because this guest's IOMMU
# translates (UIO moving traffic: nohuge_uio.sh); bad input gets the
# documented errors.
# An rtl8139 (10ec:8139) at 0000:00:06.0 stands for an unsupported NIC.
#
# usage: platform.sh BUILD_DIR [-v]   (BUILD_DIR has tools/usnetctl and
#                                       tests/pci_probe; -v shows the console)
# Environment: USNET_VM_CACHE (kernel cache, default <repo>/build/vm-cache),
# USNET_VM_WORK (initramfs and log, default BUILD_DIR/vm-test/platform).
# Exit status: 0 pass, 1 fail, 77 skip (prints "SKIP: reason").
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$script_dir/lib.sh" # repo_root, USNET_VM_CACHE, skip, vm_args ...
vm_args "BUILD_DIR [-v]" "" -- "$@"
work=${USNET_VM_WORK:-$build/vm-test/platform}

vm_need_rig

for f in tools/usnetctl tests/pci_probe; do
    [ -x "$build/$f" ] || { echo "platform: $build/$f not built" >&2; exit 1; }
done
qemu-system-x86_64 -device help 2>/dev/null | grep -q '"rtl8139"' ||
    skip "this qemu has no rtl8139 (the unsupported-NIC case)"

t_all=$(now)
mkdir -p "$work"
vm_get_kernel

t=$(now)
"$script_dir/mkinitramfs.sh" "$work/initramfs.cpio.gz" \
    --script "$script_dir/guest/platform-test.sh" \
    --bin "$build/tools/usnetctl" "$build/tests/pci_probe"
t_initrd=$(since "$t")

# Every check the guest must PASS (pci_probe names its own as TAG-CHECK).
expect="status-lists-nics status-json bad-address bad-syntax bad-kernel-bound"
expect+=" bad-not-network bad-unsupported bind-not-network bind-no-device bind-bad-driver"
expect+=" bad-unbound bind-refuses-up bind-refused-kept-driver bind-force unbind-after-force"
expect+=" bind-up-no-addr unbind-up-no-addr unbind-not-ours vfio-shared-open vfio-shared-pool"
expect+=" vfio-busy-group restore-all"
for nic in virtio e1000 e1000e; do
    expect+=" roundtrip-$nic-vfio-pci roundtrip-$nic-uio_pci_generic"
    expect+=" roundtrip-$nic-vfio-pci+uio_pci_generic uio-refused-translating-$nic"
    for c in open config bus-master bars dma-alloc fault-iova dma-pool dma-pool-4096 \
             irq-enable irq-mode irq-delivered irq-disable reopen; do
        expect+=" vfio-$nic-$c"
    done
    [ "$nic" = virtio ] || expect+=" vfio-$nic-mmio"
done

t=$(now)
rc=0
"$script_dir/run-vm.sh" "${verbose[@]+"${verbose[@]}"}" --expect "$expect" \
    --initrd "$work/initramfs.cpio.gz" --timeout 300 --log "$work/console.log" \
    -- -netdev hubport,id=net-rtl,hubid=9 \
       -device rtl8139,netdev=net-rtl,bus=pcie.0,addr=0x6 || rc=$?
t_vm=$(since "$t")

grep -a 'bench-map' "$work/console.log" | tr -d '\r' | sed 's/^/platform: /' || true
echo "platform: initramfs ${t_initrd} s, VM run ${t_vm} s, total $(since "$t_all") s"
case "$rc" in
    0) echo "platform: PASS" ;;
    77) echo "SKIP: the guest skipped every check" ;;
    *) echo "platform: FAIL (run-vm.sh status $rc, log $work/console.log)" ;;
esac
exit "$rc"
