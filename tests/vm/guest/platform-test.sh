# Guest side of tests/vm/platform.sh (busybox sh, run as /test.sh).
# usnetctl status/bind/unbind, the platform layer through VFIO and UIO
# (pci_probe), and the pci: port kind's answers to bad input.
# shellcheck disable=SC1091 # installed by mkinitramfs.sh (guest/vmtest.sh)
. /lib/vmtest.sh

VIRTIO=0000:00:03.0 E1000=0000:00:04.0 E1000E=0000:00:05.0 RTL=0000:00:06.0
NICS="virtio:$VIRTIO e1000:$E1000 e1000e:$E1000E"
export USNET_RUN_DIR=/run/usnet

driver_of() { vmtest_pci_driver "$1"; }
ifname_of() {
    for _d in /sys/bus/pci/devices/"$1"/net/* /sys/bus/pci/devices/"$1"/virtio*/net/*; do
        [ -e "$_d" ] && { echo "${_d##*/}"; return 0; }
    done
    return 0
}

# expect_out NAME STATUS PATTERN CMD...: CMD exits STATUS and prints PATTERN.
expect_out() {
    _n=$1 _want=$2 _pat=$3; shift 3
    _out=$("$@" 2>&1); _rc=$?
    # (no VMTEST at the start of a word: the host counts those)
    echo "platform: $* -> [$_rc] $(printf '%s' "$_out" | tr '\n' ' ' | sed 's/VMTEST/vmtest/g')"
    if [ "$_rc" -ne "$_want" ]; then
        vmtest_fail "$_n" "'$*' exited $_rc, expected $_want: $_out"
    elif ! printf '%s\n' "$_out" | grep -q -- "$_pat"; then
        vmtest_fail "$_n" "'$*' output lacks '$_pat': $_out"
    else
        vmtest_pass "$_n"
    fi
}

# probe NAME ARGS...: pci_probe prints its own results; a crash (sanitizer
# abort, signal) must show up as a failure too.
probe() {
    _n=$1; shift
    pci_probe "$@"; _rc=$?
    [ "$_rc" -le 1 ] || vmtest_fail "$_n-exit" "pci_probe $* exited $_rc"
}

# --- status ------------------------------------------------------------------
out=$(usnetctl status 2>&1)
printf '%s\n' "$out" | sed 's/^/platform: status: /'
ok=1
for spec in "$VIRTIO 1af4:1041 virtio-net virtio-pci" "$E1000 8086:100e e1000 e1000" \
            "$E1000E 8086:10d3 e1000e e1000e" "$RTL 10ec:8139 -"; do
    # shellcheck disable=SC2086 # fields
    set -- $spec
    line=$(printf '%s\n' "$out" | grep "^$1 ")
    # shellcheck disable=SC2086
    echo "$line" | grep -q "^$1 *$2 *$3 *${4:-}" || { ok=0; echo "platform: status line for $1: '$line'"; }
    [ "$1" = "$RTL" ] || [ "$(echo "$line" | awk '{print $6}')" = "$(ifname_of "$1")" ] || ok=0
done
printf '%s\n' "$out" | grep -q '^0000:00:00.0' && ok=0
[ "$ok" = 1 ] && vmtest_pass status-lists-nics || vmtest_fail status-lists-nics "$out"
json=$(usnetctl status --json)
case "$json" in
    '{"devices":[{"address":"0000:00:03.0",'*'"usnet_driver":"virtio-net","kernel_driver":"virtio-pci","iommu_group":'*) vmtest_pass status-json ;;
    *) vmtest_fail status-json "$json" ;;
esac

# --- bad input, before anything is bound to usnet --------------------------------
expect_out bad-address 1 "no PCI device 0000:00:09.0" \
    pci_probe --port-error pci:0000:00:09.0
expect_out bad-syntax 1 "is not a PCI address" \
    pci_probe --port-error pci:00:3.0
expect_out bad-kernel-bound 1 "run: usnetctl bind $E1000" \
    pci_probe --port-error "pci:$E1000"
expect_out bad-not-network 1 "0000:00:00.0 is not a network device (class 0x060000" \
    pci_probe --port-error pci:0000:00:00.0
expect_out bad-unsupported 1 "10ec:8139 at $RTL is not supported (supported: virtio-net 1af4:1041, e1000 8086:100e, e1000e 8086:10d3)" \
    pci_probe --port-error "pci:$RTL"
expect_out bind-not-network 1 "not a network device" usnetctl bind 0000:00:00.0
expect_out bind-no-device 1 "no PCI device 0000:00:09.0" usnetctl bind 0000:00:09.0
expect_out bind-bad-driver 2 "unknown driver" usnetctl bind "$E1000" e1000
# A device with no driver at all.
echo "$E1000E" >/sys/bus/pci/devices/$E1000E/driver/unbind
expect_out bad-unbound 1 "$E1000E is not bound to any driver; run: usnetctl bind $E1000E" \
    pci_probe --port-error "pci:$E1000E"
echo "$E1000E" >/sys/bus/pci/drivers_probe 2>/dev/null
[ "$(driver_of "$E1000E")" = e1000e ] || vmtest_fail reprobe-e1000e "e1000e did not come back"

# --- an interface that is up with an address is refused without --force ----------
if1=$(ifname_of "$E1000")
ip link set "$if1" up && ip addr add 198.18.0.1/24 dev "$if1"
expect_out bind-refuses-up 1 "is interface $if1, which is up with addresses 198.18.0.1/24" \
    usnetctl bind "$E1000"
[ "$(driver_of "$E1000")" = e1000 ] && vmtest_pass bind-refused-kept-driver ||
    vmtest_fail bind-refused-kept-driver "driver is now $(driver_of "$E1000")"
expect_out bind-force 0 "bound to vfio-pci (was e1000, interface $if1)" usnetctl bind "$E1000" --force
expect_out unbind-after-force 0 "bound to e1000 again" usnetctl unbind "$E1000"
if1=$(ifname_of "$E1000")
ip link set "$if1" up
expect_out bind-up-no-addr 0 "bound to vfio-pci" usnetctl bind "$E1000"
expect_out unbind-up-no-addr 0 "bound to e1000 again" usnetctl unbind "$E1000"

# --- bind/unbind round trips restore the kernel driver ---------------------------
for nic in $NICS; do
    name=${nic%%:*} bdf=${nic#*:}
    orig=$(driver_of "$bdf")
    for path in vfio-pci uio_pci_generic "vfio-pci uio_pci_generic"; do
        tagp=$(echo "$path" | tr ' ' '+')
        ok=1 why=""
        for drv in $path; do
            out=$(usnetctl bind "$bdf" "$drv" 2>&1) || { ok=0; why="bind $drv: $out"; }
            [ "$(driver_of "$bdf")" = "$drv" ] || { ok=0; why="$why; driver $(driver_of "$bdf") after bind $drv"; }
        done
        if [ "$drv" = vfio-pci ]; then
            g=$(vmtest_pci_iommu_group "$bdf")
            [ -c "/dev/vfio/$g" ] || { ok=0; why="$why; no /dev/vfio/$g"; }
        fi
        [ -f "/run/usnet/pci-$bdf.driver" ] && [ "$(cat "/run/usnet/pci-$bdf.driver")" = "$orig" ] ||
            { ok=0; why="$why; state file: $(cat "/run/usnet/pci-$bdf.driver" 2>&1)"; }
        out=$(usnetctl unbind "$bdf" 2>&1) || { ok=0; why="$why; unbind: $out"; }
        [ "$(driver_of "$bdf")" = "$orig" ] || { ok=0; why="$why; driver $(driver_of "$bdf") after unbind, expected $orig"; }
        [ -n "$(ifname_of "$bdf")" ] || { ok=0; why="$why; no kernel interface after unbind"; }
        [ ! -e "/run/usnet/pci-$bdf.driver" ] || { ok=0; why="$why; state file left"; }
        echo "platform: $name $path: $out"
        [ "$ok" = 1 ] && vmtest_pass "roundtrip-$name-$tagp" || vmtest_fail "roundtrip-$name-$tagp" "$why"
    done
done
expect_out unbind-not-ours 0 "nothing to do" usnetctl unbind "$E1000"

# --- the platform layer through VFIO ---------------------------------------------
for nic in $NICS; do
    name=${nic%%:*} bdf=${nic#*:}
    usnetctl bind "$bdf" vfio-pci >/dev/null || vmtest_fail "vfio-bind-$name" "usnetctl bind failed"
    probe "vfio-$name" --tag "vfio-$name" --expect vfio "$bdf"
done
probe vfio-shared --tag vfio --shared "$VIRTIO" "$E1000" "$E1000E"
# What hugepages buy when mapping DMA memory (TCG, emulated IOMMU).
export PCI_PROBE_ADDR=$E1000
probe bench-huge --bench-map 32
export USNET_DMA_PAGES=4k
probe bench-4k --bench-map 32
unset USNET_DMA_PAGES PCI_PROBE_ADDR
# A group another process holds open.
g=$(vmtest_pci_iommu_group "$E1000")
expect_out vfio-busy-group 1 "/dev/vfio/$g is busy: another process has IOMMU group $g open" \
    sh -c "exec 3<>/dev/vfio/$g; pci_probe --port-error pci:$E1000"

# --- uio_pci_generic behind a translating IOMMU ----------------------------------
# This guest runs intel_iommu=on without iommu=pt: each group's domain
# translates DMA, so the physical addresses UIO hands a device would go
# nowhere ("took no frame", nothing sent). The open is refused, saying why.
# (UIO moving real traffic, with iommu=pt: tests/vm/nohuge_uio.sh.)
for nic in $NICS; do
    name=${nic%%:*} bdf=${nic#*:}
    usnetctl bind "$bdf" uio_pci_generic >/dev/null || vmtest_fail "uio-bind-$name" "usnetctl bind failed"
    g=$(vmtest_pci_iommu_group "$bdf")
    echo "platform: $bdf IOMMU group $g domain type $(cat "/sys/kernel/iommu_groups/$g/type")"
    expect_out "uio-refused-translating-$name" 1 \
        "$bdf: IOMMU group $g translates DMA (type DMA.*use vfio-pci (usnetctl bind $bdf) or boot with iommu=pt" \
        pci_probe --port-error "pci:$bdf"
done

# --- everything back to the kernel ------------------------------------------------
ok=1
for nic in $NICS; do
    bdf=${nic#*:}
    usnetctl unbind "$bdf" || ok=0
done
[ "$(driver_of "$VIRTIO") $(driver_of "$E1000") $(driver_of "$E1000E")" = "virtio-pci e1000 e1000e" ] || ok=0
[ "$ok" = 1 ] && vmtest_pass restore-all || vmtest_fail restore-all "drivers: $(driver_of "$VIRTIO") $(driver_of "$E1000") $(driver_of "$E1000E")"
usnetctl status | sed 's/^/platform: status: /'
