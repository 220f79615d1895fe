# Guest side of tests/vm/smoke.sh (busybox sh, run as /test.sh).
# Checks that the VM offers what the usnet PCI drivers need.
# shellcheck disable=SC1091 # installed by mkinitramfs.sh (guest/vmtest.sh)
. /lib/vmtest.sh

nics="virtio-net:1af4:1041 e1000:8086:100e e1000e:8086:10d3"
bdfs=""

for spec in $nics; do
    name=${spec%%:*} id=${spec#*:} vendor=${id%:*} device=${id#*:}
    found=$(vmtest_pci_find "$vendor" "$device")
    # shellcheck disable=SC2086 # one word per address
    set -- $found
    if [ $# -ne 1 ]; then
        vmtest_fail "pci-$name" "expected one $vendor:$device in /sys/bus/pci/devices, found $#"
        continue
    fi
    bdf=$1
    vmtest_pass "pci-$name"
    group=$(vmtest_pci_iommu_group "$bdf") || {
        vmtest_fail "iommu-group-$name" "$bdf has no iommu_group link"
        continue
    }
    if [ -d "/sys/kernel/iommu_groups/$group/devices/$bdf" ] ||
       [ -L "/sys/kernel/iommu_groups/$group/devices/$bdf" ]; then
        vmtest_pass "iommu-group-$name"
    else
        vmtest_fail "iommu-group-$name" "$bdf not listed in /sys/kernel/iommu_groups/$group"
        continue
    fi
    echo "smoke: $name at $bdf, IOMMU group $group, driver '$(vmtest_pci_driver "$bdf")'"

    # Unbind from the kernel driver, bind to vfio-pci by id.
    vmtest_pci_unbind "$bdf"
    if ! echo "$vendor $device" >/sys/bus/pci/drivers/vfio-pci/new_id; then
        vmtest_fail "vfio-bind-$name" "write to vfio-pci/new_id failed"
        continue
    fi
    if ! vmtest_wait_for "/dev/vfio/$group"; then
        vmtest_fail "vfio-bind-$name" "no /dev/vfio/$group (driver '$(vmtest_pci_driver "$bdf")')"
    elif [ "$(vmtest_pci_driver "$bdf")" != vfio-pci ]; then
        vmtest_fail "vfio-bind-$name" "bound to '$(vmtest_pci_driver "$bdf")', not vfio-pci"
    else
        vmtest_pass "vfio-bind-$name"
        bdfs="$bdfs $bdf"
        eval "bdf_$(echo "$name" | tr - _)=$bdf"
    fi
done

if dmesg | grep -q "Enabled IRQ remapping"; then
    vmtest_pass irq-remapping
else
    vmtest_fail irq-remapping "no 'Enabled IRQ remapping' in dmesg: vfio_iommu_type1 will refuse the IOMMU"
fi

# Container, type1v2 IOMMU, DMA map, device fds, BAR0 mmap (C helper).
if [ -z "$bdfs" ]; then
    vmtest_skip vfio-probe "no device bound to vfio-pci"
elif command -v vfio-probe >/dev/null; then
    # shellcheck disable=SC2086 # one argument per address
    vfio-probe $bdfs || echo "smoke: vfio-probe exited $?"
else
    vmtest_skip vfio-probe "vfio-probe not in the initramfs (no C compiler on the host?)"
fi

# The no-IOMMU path: uio_pci_generic.
if [ -d /sys/module/uio_pci_generic ] && [ -d /sys/bus/pci/drivers/uio_pci_generic ]; then
    vmtest_pass uio-module
else
    vmtest_fail uio-module "uio_pci_generic is not loaded"
fi
if [ -n "${bdf_e1000:-}" ]; then
    if vmtest_pci_bind "$bdf_e1000" uio_pci_generic &&
       vmtest_wait_for /sys/bus/pci/devices/"$bdf_e1000"/uio; then
        uio=$(ls /sys/bus/pci/devices/"$bdf_e1000"/uio)
        if vmtest_wait_for "/dev/$uio"; then
            vmtest_pass uio-bind-e1000
        else
            vmtest_fail uio-bind-e1000 "no /dev/$uio"
        fi
    else
        vmtest_fail uio-bind-e1000 "binding $bdf_e1000 to uio_pci_generic failed (driver '$(vmtest_pci_driver "$bdf_e1000")'): $(dmesg | tail -n 2)"
    fi
fi
exit 0
