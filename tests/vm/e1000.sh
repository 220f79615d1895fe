#!/usr/bin/env bash
# VM test of the e1000 / e1000e driver (src/drivers/e1000/): boots the test
# VM with four Intel NICs wired in pairs by QEMU hubs and runs
# tests/vm/guest/e1000-test.sh in it (rx, tx, fwd, irq, fault, sigint for
# both models; each named check must PASS), then checks on the host, in the pcap QEMU's filter-dump
# wrote for each NIC, that every frame the NIC under TX test sent is there
# exactly once, in sequence, with valid IPv4 and UDP checksums (tshark).
#
#   hub 1: 0000:00:04.0 e1000  (A, 52:54:00:12:34:02) <-> 0000:00:06.0 e1000  (C, ...:06)
#   hub 2: 0000:00:05.0 e1000e (B, 52:54:00:12:34:03) <-> 0000:00:07.0 e1000e (D, ...:07)
#
# usage: e1000.sh [-v] [-n FRAMES] [-r PPS] [BUILD_DIR]
#   BUILD_DIR  a usnet build with tools/usnet-{pktgen,sink,fwd} (default
#              <repo>/build); build it without sanitizers for realistic timing
#   -n FRAMES  frames per rx/tx/fwd check (default 20000)
#   -r PPS     pktgen rate for those checks (default 10000: "moderate")
#   -v         show the guest console while it runs
# Environment: USNET_VM_CACHE (kernel cache), USNET_VM_WORK (work files,
# default <repo>/build/vm-test/e1000).
# Exit status: 0 pass, 1 fail, 77 skip ("SKIP: reason"). In ctest as vm.e1000.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$script_dir/lib.sh" # repo_root, USNET_VM_CACHE, skip, vm_args ...
work=${USNET_VM_WORK:-$repo_root/build/vm-test/e1000}

n=20000 rate=10000
vm_args "[-v] [-n FRAMES] [-r PPS] [BUILD_DIR]" "$repo_root/build" -n n -r rate -- "$@"

vm_need_rig

command -v tshark >/dev/null || skip "tshark not found (apt-get install tshark)"
for t in usnet-pktgen usnet-sink usnet-fwd; do
    [ -x "$build/tools/$t" ] || skip "$build/tools/$t not built (cmake --build $build)"
done

t_all=$(now)
mkdir -p "$work"
vm_get_kernel

t=$(now)
"$script_dir/mkinitramfs.sh" "$work/initramfs.cpio.gz" --script "$script_dir/guest/e1000-test.sh" \
    --bin "$build/tools/usnet-pktgen" "$build/tools/usnet-sink" "$build/tools/usnet-fwd" 2>/dev/null
t_initrd=$(since "$t")

pcap=$work/pcap
rm -rf "$pcap"
mkdir -p "$pcap"
# Every guest check that must PASS.
expect="bind fwd"
for m in e1000 e1000e; do
    expect+=" rx-$m-sent rx-$m tx-$m-sent tx-$m irq-wake-$m fault-$m sigint-$m"
done
t=$(now)
rc=0
# The extra pair C, D (run-vm.sh knows only A and B) with their own pcaps.
"$script_dir/run-vm.sh" "${verbose[@]+"${verbose[@]}"}" --initrd "$work/initramfs.cpio.gz" \
    --timeout 300 --log "$work/console.log" --pcap "$pcap" --expect "$expect" \
    --net-virtio none --net-e1000 hub:1 --net-e1000e hub:2 \
    --append "e1000test.n=$n e1000test.rate=$rate" -- \
    -netdev hubport,id=net-c,hubid=1 \
    -device e1000,netdev=net-c,bus=pcie.0,addr=0x6.0,mac=52:54:00:12:34:06,romfile= \
    -object filter-dump,id=dump-c,netdev=net-c,file="$pcap/e1000-c.pcap" \
    -netdev hubport,id=net-d,hubid=2 \
    -device e1000e,netdev=net-d,bus=pcie.0,addr=0x7.0,mac=52:54:00:12:34:07,romfile= \
    -object filter-dump,id=dump-d,netdev=net-d,file="$pcap/e1000e-d.pcap" >"$work/results.txt" ||
    rc=$?
t_vm=$(since "$t")
cat "$work/results.txt"
log=$work/console.log

# ---- host-side TX checks -----------------------------------------------------
# The frames each NIC under TX test sent: exactly n UDP frames, in
# sequence, with good checksums (vm_pcap_seq_check in lib.sh).
host_fail=0
if grep -q "VMTEST DONE" "$log"; then
    vm_pcap_seq_check E1000 tx-e1000-pcap "$pcap/e1000.pcap" \
        "eth.src==52:54:00:12:34:02 && ip.src==198.18.2.1" "$n"
    vm_pcap_seq_check E1000 tx-e1000e-pcap "$pcap/e1000e.pcap" \
        "eth.src==52:54:00:12:34:03 && ip.src==198.18.4.1" "$n"
fi

# ---- numbers -------------------------------------------------------------------
echo "--- timings and numbers (from $log)"
tr -d '\r' <"$log" | grep '^E1000 ' | grep -v '^E1000 json' || true
pps() { # pps NAME: the pps field of a tool's JSON line in the log
    tr -d '\r' <"$log" | sed -n "s/^E1000 json $1 .*\"pps\":\([0-9.]*\).*/\1/p" | head -n 1
}
# The rate pktgen achieved (it asks for -r; a loaded host may not give it).
for x in rx-e1000-gen tx-e1000-gen rx-e1000e-gen tx-e1000e-gen fwd-cd-gen fwd-dc-gen; do
    echo "E1000 offered $x $(pps "$x") pps"
done
echo "e1000: initramfs ${t_initrd} s, VM run ${t_vm} s, total $(since "$t_all") s (n=$n, rate=$rate)"

if [ "$rc" -ne 0 ] || [ "$host_fail" -ne 0 ]; then
    echo "e1000: FAIL (run-vm.sh status $rc, log $log)"
    exit 1
fi
echo "e1000: PASS"
