#!/usr/bin/env bash
# VM test of the afxdp: port on the guest kernel's own drivers: virtio-net
# (virtio_net, 0000:00:03.0) and e1000e (e1000e, 0000:00:05.0), wired
# together on one QEMU hub. usnet-pktgen -> usnet-sink over afxdp: exactly
# N frames each way (guest/afxdp-test.sh), and which XDP and AF_XDP modes
# each driver gave (printed as "mode" lines).
#
# usage: afxdp.sh [-v] [BUILD_DIR]   (default <repo>/build-test)
# Environment: N (5000), USNET_VM_CACHE, USNET_VM_WORK. Exit: 0 pass,
# 1 fail, 77 skip. Boots a VM (TCG, a minute or two).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$script_dir/lib.sh" # repo_root, USNET_VM_CACHE, skip, vm_args ...
work=${USNET_VM_WORK:-$repo_root/build/vm-test/afxdp}
N=${N:-5000}
vm_args "[-v] [BUILD_DIR]" "$repo_root/build-test" -- "$@"
vm_need_rig
for t in usnet-pktgen usnet-sink; do
    [ -x "$build/tools/$t" ] || { echo "afxdp.sh: $build/tools/$t not built" >&2; exit 2; }
done
help=$("$build/tools/usnet-sink" --help 2>&1 || true)
if ! grep -q "afxdp:IFNAME.*AF_XDP" <<<"$help"; then
    echo "afxdp.sh: the afxdp kind is not built in $build" >&2
    exit 1
fi
mkdir -p "$work"
vm_get_kernel
"$script_dir/mkinitramfs.sh" "$work/initramfs.cpio.gz" --script "$script_dir/guest/afxdp-test.sh" \
    --bin "$build/tools/usnet-pktgen" "$build/tools/usnet-sink" \
    --file "/usr/lib/$(gcc -print-multiarch)/bpf/xdp-dispatcher.o" >/dev/null
rc=0
"$script_dir/run-vm.sh" "${verbose[@]}" --initrd "$work/initramfs.cpio.gz" \
    --log "$work/console.log" --timeout 600 --net-virtio hub:1 --net-e1000e hub:1 \
    --net-e1000 none --append "afxdptest.n=$N" || rc=$?
grep -a "AFXDP-MODE\|VMTEST" "$work/console.log" | tr -d '\r' | sort -u | sed 's/^/  /'
exit $rc
