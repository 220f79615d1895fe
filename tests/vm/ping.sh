#!/usr/bin/env bash
# VM test: the Linux kernel pings usnet-echo running on each of the guest's
# three NICs (virtio-net, e1000, e1000e) and gets every reply; and
# usnet-fwd forwards between two guest virtio-net NICs without losing a
# frame. The guest side is tests/vm/guest/ping-test.sh.
#
#   ping-NIC, echo-NIC (NIC: virtio, e1000, e1000e)
#        The NIC's host side is a TAP that QEMU creates; once QEMU has it,
#        this script moves it into a network namespace of its own (created
#        here, removed on exit) with 198.18.N.1/24 (N = 1, 2, 3). In the
#        guest the NIC is bound to vfio-pci and usnet-echo answers for
#        198.18.N.2 on pci:ADDR. When the guest prints "PING-READY NIC",
#        `ping -c 20 -i 0.1 -W 2 198.18.N.2` runs in the namespace and must
#        get 20 replies, no duplicates (ping-NIC, judged here); usnet-echo
#        must have sent 20 echo replies and answered ARP (echo-NIC, guest).
#   fwd-virtio
#        Four more virtio-net NICs: A 00:06.0 -hub 1- B 00:07.0 and
#        C 00:08.0 -hub 2- D 00:09.0. usnet-pktgen on A sends FRAMES frames
#        at PPS, usnet-fwd forwards B <-> C, usnet-sink on D receives
#        exactly FRAMES with sequence numbers 0..FRAMES-1, none lost,
#        duplicated or with a bad checksum; fwd counts FRAMES forwarded, no
#        drops. (A hub is a lossless peer for virtio-net: a NIC whose peer
#        cannot take a frame stops taking TX descriptors. It is not always
#        an in-order one: when B's RX ring runs full, QEMU may hand B a
#        newer frame before one it queued, so reordering is reported, not
#        failed; see guest/ping-test.sh.) B and D have 1024-entry RX
#        rings (rx_queue_size), QEMU's largest. usnet-fwd drops what C's TX
#        ring (256 entries, QEMU's only size without vhost) refuses for
#        100 us: at PPS 1000 that is QEMU not draining C for 256 ms, or
#        the sink not draining D for 1 s more. Under TCG on a 2-core host
#        QEMU stalls for 170 ms at times when another VM runs, and frames
#        were lost that way at 2000 and 5000 pps then (5000 passes on an
#        otherwise idle host).
#
# usage: ping.sh [-v] [-n FRAMES] [-r PPS] [BUILD_DIR]
#   BUILD_DIR  a usnet build with tools/usnet-{echo,pktgen,sink,fwd}
#              (default <repo>/build-test)
#   -n FRAMES  frames for fwd-virtio (default 4000)
#   -r PPS     pktgen's rate for fwd-virtio (default 1000: "moderate" for
#              TCG; see above for what limits it)
#   -v         show the guest console while it runs
# Needs root (TAP devices, network namespaces) and ping (iputils-ping).
# Environment: USNET_VM_CACHE (kernel cache), USNET_VM_WORK (work files,
# default <repo>/build/vm-test/ping), QEMU_EXTRA (more qemu arguments, e.g.
# "-object filter-dump,id=f,netdev=net-d,file=d.pcap": the fwd NICs'
# netdevs are net-a .. net-d). Exit status: 0 pass, 1 fail, 77 skip.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$script_dir/lib.sh" # repo_root, USNET_VM_CACHE, skip, vm_args ...
work=${USNET_VM_WORK:-$repo_root/build/vm-test/ping}

n=4000 rate=1000
vm_args "[-v] [-n FRAMES] [-r PPS] [BUILD_DIR]" "$repo_root/build-test" -n n -r rate -- "$@"

vm_need_rig

[ "$(id -u)" = 0 ] || skip "needs root (TAP devices, network namespaces)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
command -v ip >/dev/null || skip "iproute2 (ip) not found"
command -v ping >/dev/null || skip "ping not found (apt-get install iputils-ping)"
for t in usnet-echo usnet-pktgen usnet-sink usnet-fwd; do
    [ -x "$build/tools/$t" ] || { echo "ping.sh: $build/tools/$t not built" >&2; exit 2; }
done

t_all=$(now)
mkdir -p "$work"
vm_get_kernel

t=$(now)
"$script_dir/mkinitramfs.sh" "$work/initramfs.cpio.gz" --script "$script_dir/guest/ping-test.sh" \
    --bin "$build/tools/usnet-echo" "$build/tools/usnet-pktgen" "$build/tools/usnet-sink" \
    "$build/tools/usnet-fwd" --hugepages 128 >/dev/null
t_initrd=$(since "$t")

# One TAP and one namespace per NIC, named after this process so that
# concurrent runs do not collide (IFNAMSIZ: at most 15 characters).
nics=(virtio e1000 e1000e)
declare -A tap=([virtio]=pgv$$ [e1000]=pge$$ [e1000e]=pgee$$)
declare -A ns=([virtio]=ping-vm-v-$$ [e1000]=ping-vm-e-$$ [e1000e]=ping-vm-ee-$$)
declare -A net=([virtio]=1 [e1000]=2 [e1000e]=3)
for nic in "${nics[@]}"; do
    [ ! -e "/sys/class/net/${tap[$nic]}" ] || { echo "ping.sh: ${tap[$nic]} exists already" >&2; exit 1; }
done

vm="" pings=()
cleanup() {
    local p
    for p in "${pings[@]+"${pings[@]}"}"; do kill "$p" 2>/dev/null || true; done
    # run-vm.sh kills its qemu on TERM; the TAPs go with qemu.
    if [ -n "$vm" ]; then
        kill -TERM "$vm" 2>/dev/null || true
        wait "$vm" 2>/dev/null || true
    fi
    for nic in "${nics[@]}"; do ip netns del "${ns[$nic]}" 2>/dev/null || true; done
}
trap cleanup EXIT
for nic in "${nics[@]}"; do vm_netns_add "${ns[$nic]}"; done

log=$work/console.log
# A log left from an earlier run would match the markers at once.
rm -f "$log"
t=$(now)
# shellcheck disable=SC2054 # commas belong to qemu's option syntax
fwd_nics=(
    -netdev hubport,id=net-a,hubid=1
    -device virtio-net-pci,disable-legacy=on,iommu_platform=on,netdev=net-a,bus=pcie.0,addr=0x6.0,mac=52:54:00:12:34:06,romfile=
    -netdev hubport,id=net-b,hubid=1
    -device virtio-net-pci,disable-legacy=on,iommu_platform=on,netdev=net-b,rx_queue_size=1024,bus=pcie.0,addr=0x7.0,mac=52:54:00:12:34:07,romfile=
    -netdev hubport,id=net-c,hubid=2
    -device virtio-net-pci,disable-legacy=on,iommu_platform=on,netdev=net-c,bus=pcie.0,addr=0x8.0,mac=52:54:00:12:34:08,romfile=
    -netdev hubport,id=net-d,hubid=2
    -device virtio-net-pci,disable-legacy=on,iommu_platform=on,netdev=net-d,rx_queue_size=1024,bus=pcie.0,addr=0x9.0,mac=52:54:00:12:34:09,romfile=
)
# shellcheck disable=SC2086 # QEMU_EXTRA: several arguments
"$script_dir/run-vm.sh" "${verbose[@]+"${verbose[@]}"}" --initrd "$work/initramfs.cpio.gz" \
    --timeout 170 --log "$log" --expect "echo-virtio echo-e1000 echo-e1000e fwd-virtio" \
    --net-virtio "tap:${tap[virtio]}" --net-e1000 "tap:${tap[e1000]}" \
    --net-e1000e "tap:${tap[e1000e]}" --append "pingtest.n=$n pingtest.rate=$rate" \
    -- "${fwd_nics[@]}" ${QEMU_EXTRA:-} >"$work/results.txt" 2>&1 &
vm=$!

# QEMU creates and attaches each TAP (TUNSETIFF) as it starts; only then
# may it move (design.md: a TAP moved before QEMU attached it would be
# created anew in the root namespace). The kernel side gets its address
# and goes up in the namespace.
host_fail=0
declare -A moved=()
for nic in "${nics[@]}"; do
    if vm_move_tap "${tap[$nic]}" "${ns[$nic]}" "198.18.${net[$nic]}.1/24" "$vm" 2>"$work/ip.err"; then
        moved[$nic]=1
    else
        echo "VMTEST FAIL ping-$nic: TAP ${tap[$nic]} not moved: $(cat "$work/ip.err")"
        host_fail=1
    fi
done

# Start each NIC's ping when the guest says its usnet-echo is ready, or
# give up on it when the guest reports a failure or the VM ends.
declare -A started=() ping_pid=()
deadline=$((SECONDS + 150))
while :; do
    waiting=0
    for nic in "${nics[@]}"; do
        if [ -z "${moved[$nic]:-}" ] || [ -n "${started[$nic]:-}" ]; then
            continue
        fi
        if grep -aq "^PING-READY $nic"$'\r\\?$' "$log" 2>/dev/null; then
            timeout 60 ip netns exec "${ns[$nic]}" ping -c 20 -i 0.1 -W 2 "198.18.${net[$nic]}.2" \
                >"$work/ping-$nic.txt" 2>&1 &
            ping_pid[$nic]=$!
            pings+=($!)
            started[$nic]=1
        elif grep -aq "^PING-FAILED $nic"$'\r\\?$' "$log" 2>/dev/null; then
            started[$nic]=failed
        else
            waiting=1
        fi
    done
    [ "$waiting" = 1 ] || break
    kill -0 "$vm" 2>/dev/null || break
    [ "$SECONDS" -lt "$deadline" ] || break
    sleep 0.2
done
for nic in "${nics[@]}"; do
    [ -n "${moved[$nic]:-}" ] || continue
    if [ "${started[$nic]:-}" != 1 ]; then
        echo "VMTEST FAIL ping-$nic: the guest never reported usnet-echo ready"
        host_fail=1
        continue
    fi
    prc=0
    wait "${ping_pid[$nic]}" || prc=$?
    summary=$(grep "packets transmitted" "$work/ping-$nic.txt" || true)
    rtt=$(sed -n 's/^rtt \(.*\)/\1/p' "$work/ping-$nic.txt")
    echo "PING host $nic: ${summary:-no summary}; ${rtt:-no rtt}"
    if [ "$prc" -eq 0 ] && [[ "$summary" == "20 packets transmitted, 20 received,"* ]] &&
        [[ "$summary" != *duplicates* && "$summary" != *errors* ]]; then
        echo "VMTEST PASS ping-$nic"
    else
        echo "VMTEST FAIL ping-$nic: ping status $prc: $(tail -n 4 "$work/ping-$nic.txt" | tr '\n' ' ')"
        host_fail=1
    fi
done
pings=()

rc=0
wait "$vm" || rc=$?
vm=""
t_vm=$(since "$t")
cat "$work/results.txt"
echo "--- numbers (from $log)"
tr -d '\r' <"$log" | grep '^PING ' || true
echo "ping.sh: initramfs ${t_initrd} s, VM run ${t_vm} s, total $(since "$t_all") s (fwd: n=$n, rate=$rate)"
if [ "$rc" -ne 0 ] || [ "$host_fail" -ne 0 ]; then
    echo "ping.sh: FAIL (run-vm.sh status $rc, log $log)"
    exit 1
fi
echo "ping.sh: PASS"
