# Guest side of tests/vm/nohuge_uio.sh (busybox sh, run as /test.sh).
#
# The guest has no hugepages and no hugetlbfs (usnet.hugepages=0), and is
# booted with intel_iommu=on iommu=pt: every IOMMU group's default domain
# is "identity", so a device on uio_pci_generic reaches physical memory,
# while vfio-pci still puts the device it takes in a translated domain.
# For each NIC (virtio-net, e1000, e1000e):
#   vfio-4k-NIC   bound to vfio-pci, usnet-pktgen sends N frames from
#                 198.18.10.1, DMA memory on 4 KiB pages (the log says so)
#   uio-4k-NIC    bound to uio_pci_generic, N frames from 198.18.11.1
# plus, once (e1000), the refusal of 4 KiB UIO memory while the kernel may
# still migrate locked pages (vm.compact_unevictable_allowed=1).
# The host counts the frames of each run in QEMU's pcap of that NIC.
# Results: VMTEST lines; "NOHUGE key value" lines carry numbers to the host.
# shellcheck disable=SC1091 # installed by mkinitramfs.sh (guest/vmtest.sh)
. /lib/vmtest.sh

N=2000 RATE=5000
read -r cmdline </proc/cmdline
for arg in $cmdline; do
    case "$arg" in
        nohuge.n=*) N=${arg#*=} ;;
    esac
done
NICS="virtio:0000:00:03.0 e1000:0000:00:04.0 e1000e:0000:00:05.0"
T=/tmp/nohuge
mkdir -p $T
export USNET_LOG=info

# ---- the environment -----------------------------------------------------------
ht=$(awk '/^HugePages_Total:/ { print $2 }' /proc/meminfo)
if [ "$ht" = 0 ] && ! grep -q hugetlbfs /proc/mounts; then
    vmtest_pass no-hugepages
else
    vmtest_fail no-hugepages "HugePages_Total=$ht, mounts: $(grep hugetlbfs /proc/mounts)"
fi
grep -qw iommu=pt /proc/cmdline && grep -qw intel_iommu=on /proc/cmdline ||
    vmtest_fail iommu-pt "kernel command line lacks intel_iommu=on iommu=pt: $(cat /proc/cmdline)"
ok=1 why=""
for nic in $NICS; do
    bdf=${nic#*:}
    g=$(vmtest_pci_iommu_group "$bdf") || { ok=0; why="$why $bdf has no IOMMU group;"; continue; }
    t=$(cat "/sys/kernel/iommu_groups/$g/type")
    echo "NOHUGE domain $bdf group $g type $t"
    [ "$t" = identity ] || { ok=0; why="$why $bdf group $g type $t;"; }
done
[ $ok = 1 ] && vmtest_pass iommu-pt || vmtest_fail iommu-pt "$why"

# send NAME BDF SRC_IP: usnet-pktgen sends N frames; PASS NAME when all N
# went out and the library logged that its DMA memory is on 4 KiB pages.
send() {
    _n=$1 _bdf=$2 _ip=$3
    timeout 60 usnet-pktgen -p "pci:$_bdf" -n "$N" -r "$RATE" --src-ip "$_ip" \
        --dst-ip 198.18.12.2 -q --json >"$T/$_n.json" 2>"$T/$_n.err"
    _rc=$?
    echo "NOHUGE json $_n $(cat "$T/$_n.json")"
    grep -e "DMA memory on" -e "descriptors" -e "ring of" -e "uio_pci_generic (" \
        -e "VFIO, IOMMU" "$T/$_n.err" | sed "s/^/NOHUGE log $_n: /"
    _sent=$(vmtest_json_get "$T/$_n.json" sent)
    if [ "$_rc" -ne 0 ] || [ "$_sent" != "$N" ]; then
        vmtest_fail "$_n" "usnet-pktgen exited $_rc, sent '$_sent' of $N: $(tail -n 4 "$T/$_n.err")"
    elif ! grep -q "DMA memory on 4 KiB pages" "$T/$_n.err"; then
        vmtest_fail "$_n" "the library did not log 4 KiB DMA pages: $(tail -n 4 "$T/$_n.err")"
    elif grep -q "DMA memory on 2 MiB hugepages" "$T/$_n.err"; then
        vmtest_fail "$_n" "DMA memory on hugepages in a guest without them"
    else
        vmtest_pass "$_n"
    fi
}

# ---- VFIO on 4 KiB pages ---------------------------------------------------------
for nic in $NICS; do
    name=${nic%%:*} bdf=${nic#*:}
    if ! vmtest_pci_bind "$bdf" vfio-pci; then
        vmtest_fail "vfio-4k-$name" "cannot bind $bdf to vfio-pci"
        continue
    fi
    vmtest_wait_for "/dev/vfio/$(vmtest_pci_iommu_group "$bdf")" ||
        vmtest_fail "vfio-4k-$name" "no /dev/vfio node for $bdf"
    send "vfio-4k-$name" "$bdf" 198.18.10.1
done

# ---- UIO on 4 KiB pages, behind an identity (passthrough) IOMMU domain -----------
for nic in $NICS; do
    name=${nic%%:*} bdf=${nic#*:}
    vmtest_pci_bind "$bdf" uio_pci_generic || vmtest_fail "uio-4k-$name" "cannot bind $bdf to uio_pci_generic"
done

# Locked 4 KiB pages may still be moved by compaction: refused, saying why.
echo 1 >/proc/sys/vm/compact_unevictable_allowed
out=$(timeout 60 usnet-pktgen -p pci:0000:00:04.0 -n 1 -q 2>&1)
rc=$?
echo "NOHUGE compaction-refusal: [$rc] $(printf '%s' "$out" | tr '\n' ' ' | sed 's/VMTEST/vmtest/g')"
if [ $rc -ne 0 ] && printf '%s' "$out" | grep -q "sysctl -w vm.compact_unevictable_allowed=0"; then
    vmtest_pass uio-4k-refused-while-movable
else
    vmtest_fail uio-4k-refused-while-movable "exit $rc: $out"
fi
echo 0 >/proc/sys/vm/compact_unevictable_allowed

for nic in $NICS; do
    name=${nic%%:*} bdf=${nic#*:}
    [ "$(vmtest_pci_driver "$bdf")" = uio_pci_generic ] || continue
    send "uio-4k-$name" "$bdf" 198.18.11.1
done
exit 0
