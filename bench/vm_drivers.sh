#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# usnet's PCI drivers (virtio-net, e1000, e1000e) against DPDK's PMDs and
# the Linux kernel's drivers, on QEMU's emulated NICs, in ONE VM run (the
# test VM of tests/vm/: TCG, q35 + intel-iommu, devices on vfio-pci).
#
#   bench/vm_drivers.sh BUILD_DIR [ROUNDS] [SECS]
#
# BUILD_DIR: a Release build with tools/usnet-pktgen and tools/usnet-fwd.
# ROUNDS (default 3) rounds of SECS (default 5) seconds per measurement.
# For each NIC model, each round measures every contender once, the order
# rotating from round to round (bench/vm_drivers.guest.sh has the details):
#
#   TX   usnet-pktgen -p pci:X  |  dpdk-testpmd --forward-mode=txonly on X  |
#        usnet-pktgen -p afpacket:ethX on the kernel's driver (X bound to it)
#   fwd  usnet-fwd -p pci:A -p pci:X  |  dpdk-testpmd --forward-mode=io on A, X  |
#        usnet-fwd -p afpacket:ethA -p afpacket:ethX on the kernel's driver
#
# X's host side takes every frame (virtio: a UDP socket netdev sending to
# a host socket that drops them; e1000/e1000e: a QEMU hub of its own). A
# shares a hub with G, where usnet-pktgen (on usnet's driver, the same for
# every forwarder) generates the forwarded traffic, addressed to A's MAC.
# G is a virtio-net NIC: QEMU's hub holds its transmit back while A has no
# free receive buffer (flow control, in effect), so A gets what it can
# take and no emulation time goes into frames that would be dropped; an
# e1000 generator floods the hub, and the flood's device emulation starves
# the forwarder of QEMU's global lock (e1000, measured: 38-59 kpps forwarded of
# 1.3-1.6 Mpps offered). Frames are SIZE (60) bytes, 64 on a wire with
# FCS; bursts of 32; the contender runs on guest cpu 1, the generator on
# cpu 0.
#
# Output: per NIC and test, each contender's rate in every round, its
# median, QEMU's CPU share over the measured windows (all threads, and the
# main loop thread where virtio's device emulation runs) and the median of
# kpps per QEMU CPU-second; the median of the per-round ratios usnet/DPDK
# and usnet/kernel (of the rates, and of the rates per CPU-second); then
# "RESULT key=value" lines. Not a test: nothing passes or fails on a number.
#
# Environment:
#   NICS="virtio e1000 e1000e"  models to measure     TESTS="tx fwd"
#   WHO="usnet dpdk kernel"     contenders            SIZE=60
#   EXTRA="NIC:LABEL:SPEC_OPTS[:PKTGEN[:FWD]] ..."    more usnet contenders, e.g.
#        "virtio:noevidx:,event_idx=0" or "virtio:old::/path/usnet-pktgen:/path/usnet-fwd"
#        (binaries are copied into the guest; ratios are printed against usnet)
#   GEN=virtio                  the generator NIC's model ("same": A's model)
#   GUEST_APPEND=""            more guest kernel arguments
#   DEBUG=1                     testpmd's whole output in the log
#   USNET_VM_CACHE, USNET_VM_WORK (default <repo>/build/vm-test/vm-drivers)
# Exit status: 0 done, 1 the VM run failed, 77 skip (no qemu, testpmd, ...).
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR [ROUNDS] [SECS]}
BUILD=$(cd "$BUILD" && pwd)
ROUNDS=${2:-3}
SECS=${3:-5}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
vm=$repo/tests/vm
work=${USNET_VM_WORK:-$repo/build/vm-test/vm-drivers}
export USNET_VM_CACHE=${USNET_VM_CACHE:-$repo/build/vm-cache}
NICS=${NICS:-virtio e1000 e1000e}
TESTS=${TESTS:-tx fwd}
WHO=${WHO:-usnet dpdk kernel}
SIZE=${SIZE:-60}
EXTRA=${EXTRA:-}
GEN=${GEN:-virtio}
# run-vm.sh boots every guest with tsc=reliable: without it the guest
# falls back to the HPET, and then every clock_gettime() in it is a system
# call and an emulated HPET read, which takes QEMU's global lock (BQL) and
# stalls on device emulation (virtio's TX bottom half holds the BQL for up
# to 256 frames). The bench's "guest clocksource" line shows which it got.
GUEST_APPEND=${GUEST_APPEND-}

skip() { echo "SKIP: $*"; exit 77; }
[[ "$ROUNDS" =~ ^[0-9]+$ && "$SECS" =~ ^[0-9]+$ && "$ROUNDS" -ge 1 && "$SECS" -ge 1 ]] ||
    { echo "usage: $0 BUILD_DIR [ROUNDS] [SECS] (positive integers)" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
command -v dpdk-testpmd >/dev/null || skip "dpdk-testpmd not found (apt-get install dpdk-dev)"
command -v python3 >/dev/null || skip "python3 not found"
for t in usnet-pktgen usnet-fwd; do
    [ -x "$BUILD/tools/$t" ] || { echo "vm_drivers: $BUILD/tools/$t not built" >&2; exit 2; }
done
btype=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
[ "$btype" = Release ] || echo "vm_drivers: warning: $BUILD is a '$btype' build; numbers are meant for Release" >&2
pmds=$(dirname "$(find /usr/lib -name librte_net_virtio.so 2>/dev/null | head -n 1)")
if [ ! -f "$pmds/librte_net_e1000.so" ] || [ ! -f "$pmds/librte_mempool_ring.so" ]; then
    skip "DPDK PMDs (librte_net_virtio, librte_net_e1000, librte_mempool_ring) not found"
fi

mkdir -p "$work"
rm -f "$work/sink.port"
rc=0
"$vm/get-kernel.sh" "$USNET_VM_CACHE" >/dev/null || rc=$?
[ "$rc" -ne 77 ] || skip "no guest kernel (run tests/vm/get-kernel.sh to see why)"
[ "$rc" -eq 0 ] || { echo "vm_drivers: get-kernel.sh failed ($rc)" >&2; exit 1; }

# Per model: X (run-vm.sh's NIC of that model), A and G on hub N.
#   name  X             A             G             hub  qemu device
models=("virtio 0000:00:03.0 0000:00:06.0 0000:00:07.0 3 virtio-net-pci,disable-legacy=on,iommu_platform=on"
        "e1000 0000:00:04.0 0000:00:08.0 0000:00:09.0 4 e1000"
        "e1000e 0000:00:05.0 0000:00:0a.0 0000:00:0b.0 5 e1000e")
declare -A kdrv=([virtio]=virtio-pci [e1000]=e1000 [e1000e]=e1000e)
declare -A pmd=([virtio]=librte_net_virtio.so [e1000]=librte_net_e1000.so [e1000e]=librte_net_e1000.so)
declare -A key=([virtio]=v [e1000]=e [e1000e]=x)
net_args=(--net-virtio none --net-e1000 none --net-e1000e none)
qemu_extra=()
# virtio's X sends its frames as UDP datagrams to 127.0.0.1: to a socket
# bound there that never reads (a 1-byte receive buffer), so the host
# kernel drops each one right away. Sent to a closed port instead, each
# frame would cost QEMU's main loop an ICMP port unreachable round trip
# through the host stack (loopback is exempt from ICMP rate limiting).
sink_pid=""
cleanup() { [ -z "$sink_pid" ] || kill "$sink_pid" 2>/dev/null || true; }
trap cleanup EXIT
sink_port=9
if [[ " $NICS " == *" virtio "* ]]; then
    python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
time.sleep(int(sys.argv[1]))' 86400 >"$work/sink.port" &
    sink_pid=$!
    for _ in $(seq 1 50); do [ -s "$work/sink.port" ] && break; sleep 0.1; done
    sink_port=$(cat "$work/sink.port")
    [[ "$sink_port" =~ ^[0-9]+$ ]] || { echo "vm_drivers: the UDP sink did not start" >&2; exit 1; }
fi
conf=$work/vm-drivers.conf
{
    echo "SECS=$SECS ROUNDS=$ROUNDS SIZE=$SIZE"
    echo "NICS='$NICS' TESTS='$TESTS' WHO='$WHO' EXTRA='$EXTRA' PMD_DIR='$pmds' DEBUG=${DEBUG:-0}"
} >"$conf"
for m in "${models[@]}"; do
    read -r name x a g hub dev <<<"$m"
    [[ " $NICS " == *" $name "* ]] || continue
    slot_a=${a##*:} slot_a=${slot_a%.0} slot_g=${g##*:} slot_g=${slot_g%.0}
    mac_a=52:54:00:12:34:$(printf %02x "0x$slot_a") mac_g=52:54:00:12:34:$(printf %02x "0x$slot_g")
    # X: virtio needs a peer that always takes frames (design.md), the
    # Intel models keep sending into a hub with nothing else on it.
    case "$name" in
        virtio) net_args[1]=udp:$sink_port ;;
        e1000) net_args[3]=hub:1 ;;
        e1000e) net_args[5]=hub:2 ;;
    esac
    gdev=$dev
    [ "$GEN" = same ] || gdev=${models[0]##* }
    # shellcheck disable=SC2054 # commas belong to qemu's option syntax
    qemu_extra+=(-netdev "hubport,id=net-$name-a,hubid=$hub"
                 -device "$dev,netdev=net-$name-a,bus=pcie.0,addr=0x$slot_a.0,mac=$mac_a,romfile="
                 -netdev "hubport,id=net-$name-g,hubid=$hub"
                 -device "$gdev,netdev=net-$name-g,bus=pcie.0,addr=0x$slot_g.0,mac=$mac_g,romfile=")
    echo "NIC_${key[$name]}='$name $x $a $g $mac_a ${kdrv[$name]} ${pmd[$name]}'" >>"$conf"
done
extra_bins=()
for e in $EXTRA; do
    IFS=: read -r _ _ _ tbin fbin <<<"$e"
    for b in $tbin $fbin; do
        [ -x "$b" ] || { echo "vm_drivers: EXTRA binary $b not found" >&2; exit 2; }
        extra_bins+=("$b")
    done
done

"$vm/mkinitramfs.sh" "$work/initramfs.cpio.gz" --script "$here/vm_drivers.guest.sh" \
    --bin "$BUILD/tools/usnet-pktgen" "$BUILD/tools/usnet-fwd" "$(command -v dpdk-testpmd)" \
    "${extra_bins[@]+"${extra_bins[@]}"}" \
    --lib "$pmds/librte_mempool_ring.so" "$pmds/librte_net_virtio.so" "$pmds/librte_net_e1000.so" \
    --file "$conf=/etc/vm-drivers.conf" --hugepages 160 >/dev/null
nnics=$(wc -w <<<"$NICS") ntests=$(wc -w <<<"$TESTS") nwho=$(($(wc -w <<<"$WHO") + $(wc -w <<<"$EXTRA")))
limit=$((nnics * ntests * nwho * ROUNDS * (SECS + 60) + 180))
log=$work/console.log
started=$(date -u '+%Y-%m-%d %H:%M UTC')
load0=$(cut -d' ' -f1-3 /proc/loadavg)
# Watch the console while the VM runs: at each BENCH-MARK line the guest
# prints (start and end of a measurement window), sample QEMU's CPU time,
# all threads (/proc/PID/stat utime + stime, proc(5)) and the main loop
# thread (its schedstat, ns), where virtio's device emulation runs.
samples=$work/cpu-samples
: >"$samples"
rm -f "$log"
append=()
[ -z "$GUEST_APPEND" ] || append=(--append " $GUEST_APPEND")
"$vm/run-vm.sh" --initrd "$work/initramfs.cpio.gz" --timeout "$limit" --log "$log" \
    "${net_args[@]}" --hugepages 160 "${append[@]+"${append[@]}"}" -- "${qemu_extra[@]}" \
    >"$work/run-vm.out" 2>&1 &
vmpid=$!
qpid="" seen=0 hz=$(getconf CLK_TCK)
while kill -0 "$vmpid" 2>/dev/null; do
    [ -n "$qpid" ] || qpid=$(pgrep -f "^qemu-system-x86_64 .*$work/initramfs" | head -n 1 || true)
    n=$(grep -c "^BENCH-MARK" "$log" 2>/dev/null || true)
    if [ -n "$qpid" ] && [ "${n:-0}" -gt "$seen" ]; then
        t=$(date +%s.%N)
        cpu=$(awk -v hz="$hz" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$qpid/stat" 2>/dev/null || echo 0)
        main=$(awk '{ printf "%.6f", $1 / 1e9 }' "/proc/$qpid/task/$qpid/schedstat" 2>/dev/null || echo 0)
        while [ "$seen" -lt "$n" ]; do
            seen=$((seen + 1))
            echo "$seen $t $cpu $main" >>"$samples"
        done
    fi
    sleep 0.05
done
rc=0
wait "$vmpid" || rc=$?

echo "== vm_drivers: $started, $ROUNDS rounds x $SECS s, $SIZE-byte frames, bursts of 32;" \
     "QEMU $(qemu-system-x86_64 --version | head -n 1 | awk '{ print $4 }') TCG," \
     "$(nproc) host CPUs, load $load0 -> $(cut -d' ' -f1-3 /proc/loadavg)"
tr -d '\r' <"$log" | grep '^BENCH-LOG' | sed 's/^BENCH-LOG /   /' || true
tr -d '\r' <"$log" | python3 -c '
import statistics, sys
samples = {}
for line in open(sys.argv[1]):
    i, t, cpu, main = line.split()
    samples[int(i)] = (float(t), float(cpu), float(main))
rates, cpus, mains, order = {}, {}, {}, []
nmark, win = 0, []
for line in sys.stdin:
    f = line.split()
    if f[:1] == ["BENCH-MARK"]:
        nmark += 1
        win.append(samples.get(nmark))
        continue
    if len(f) != 6 or f[0] != "BENCH":
        continue
    nic, test, who, rnd, pps = f[1:]
    k = (nic, test)
    if k not in order:
        order.append(k)
    for d in (rates, cpus, mains):
        d.setdefault(k, {}).setdefault(who, {})
    if pps != "FAILED":
        rates[k][who][int(rnd)] = float(pps)
        # the last begin/end pair before this result is its window
        if len(win) >= 2 and win[-2] and win[-1] and win[-1][0] > win[-2][0]:
            dt = win[-1][0] - win[-2][0]
            cpus[k][who][int(rnd)] = (win[-1][1] - win[-2][1]) / dt
            mains[k][who][int(rnd)] = (win[-1][2] - win[-2][2]) / dt
    win = []
def med(v):
    v = list(v)
    return statistics.median(v) if v else None
def ratios(a, b):
    return [a[r] / b[r] for r in a if r in b and b[r] > 0]
def per_cpu(k, who):
    return {r: p / cpus[k][who][r] for r, p in rates[k][who].items() if cpus[k][who].get(r)}
def k(x):
    return "-" if x is None else f"{x / 1e3:.0f}"
for key in order:
    nic, test = key
    w = rates[key]
    known = ("usnet", "dpdk", "kernel")
    who = [x for x in known if x in w] + [x for x in w if x not in known]
    rounds = sorted(set().union(*[set(v) for v in w.values()]))
    print(f"\n{nic} {test}: kpps in rounds {rounds[0]}..{rounds[-1]} | median kpps |"
          f" QEMU CPU share (main loop) | median kpps per QEMU CPU-second")
    for x in who:
        per = " ".join(k(w[x].get(r)) for r in rounds)
        pc = per_cpu(key, x)
        share, mshare = med(cpus[key][x].values()), med(mains[key][x].values())
        sh = f"{share:.2f} ({mshare:.2f})" if share is not None else "-"
        print(f"   {x:<9} {per:<32} | {k(med(w[x].values())):>5} | {sh:>11} | {k(med(pc.values())):>5}")
        m = med(w[x].values())
        print(f"RESULT {nic}_{test}_{x}_kpps={m / 1e3:.0f}" if m else f"RESULT {nic}_{test}_{x}_kpps=none")
    u = w.get("usnet", {})
    for x in who:
        if x == "usnet":
            continue
        r, rc = ratios(u, w[x]), ratios(per_cpu(key, "usnet"), per_cpu(key, x))
        if r:
            line = f"   usnet/{x:<7} median of per-round ratios {med(r):.2f} (rounds {min(r):.2f}..{max(r):.2f})"
            if rc:
                line += f"; per QEMU CPU-second {med(rc):.2f} ({min(rc):.2f}..{max(rc):.2f})"
            print(line)
            print(f"RESULT {nic}_{test}_usnet_vs_{x}={med(r):.2f}")
            if rc:
                print(f"RESULT {nic}_{test}_usnet_vs_{x}_per_cpu={med(rc):.2f}")
' "$samples"
if [ "$rc" -ne 0 ]; then
    echo "vm_drivers: VM run failed (run-vm.sh status $rc); log $log" >&2
    cat "$work/run-vm.out" >&2
    exit 1
fi
