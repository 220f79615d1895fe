#!/usr/bin/env bash
# VM test of the virtio-net driver (src/drivers/virtio_net/): QEMU's
# virtio-net-pci (1af4:1041, iommu_platform=on) behind the emulated Intel
# IOMMU, driven through VFIO by the usnet tools in the guest, with a UDP
# socket netdev as the host side.
#
# usage: virtio.sh [-v] [BUILD_DIR]
#   BUILD_DIR   where usnet-pktgen, usnet-sink and libusnet.a are built
#               (default <repo>/build-test)
#   -v          copy the guest console to stderr while it runs
# (Benchmarks against dpdk-testpmd and the kernel: bench/vm_drivers.sh.)
#
# Scenarios (one VMTEST line each, guest/virtio-test.sh):
#   virtio-tx-send, virtio-tx-capture  (a) pktgen sends exactly N_TX frames;
#        the filter-dump capture holds exactly those, sequence numbers
#        0..N_TX-1 in order, IPv4 and UDP checksums valid (tshark)
#   virtio-rx                          (b) the host sends N_RX frames into the
#        netdev's UDP socket; usnet-sink receives exactly N_RX
#   virtio-irq-wake                    (d) a receiver asleep in
#        usnet_port_wait() (30 s timeout) wakes on the frame the host sends
#        6 s later; an idle usnet-sink's CPU use over 5 s is logged, not judged
#   virtio-iommu-fault                 (e) USNET_FAULT_BAD_IOVA=1: the first RX
#        buffer goes to an unmapped IOVA; the guest kernel logs the DMAR fault,
#        the driver counts an rx_error, reports the link down, and the buffer
#        it owns is untouched; the other N_FAULT-1 frames arrive
#   virtio-sigint, virtio-reopen, virtio-sigint-capture  (f) pktgen stopped by
#        SIGINT; every frame it counted was sent; the device opens again
#   virtio-mq, virtio-mq-capture       multiqueue (root only: it needs a TAP): a
#        second virtio-net at 00:06.0 with mq=on and a 2-queue TAP, moved into
#        a test namespace; 2 queue pairs (VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET);
#        N_MQ frames in 16 flows from the namespace arrive spread over both RX
#        queues; MQ_TX frames sent on each TX queue reach the TAP
#
# Environment: N_TX (10000), N_RX (2000), N_FAULT (20), RX_PPS (5000: rate
# of the host sender), N_MQ (400; 0: no multiqueue NIC), MQ_TX (100),
# QEMU_EXTRA (more qemu arguments, e.g. "-global virtio-net-pci.vectors=0":
# no MSI-X, INTx), USNET_VM_CACHE, USNET_VM_WORK (default
# <repo>/build/vm-test/virtio). Exit status: 0 pass, 1 fail, 77 skip.
# In ctest as vm.virtio: it boots a VM (about a minute under TCG).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$script_dir/lib.sh" # repo_root, USNET_VM_CACHE, skip, vm_args ...
work=${USNET_VM_WORK:-$repo_root/build/vm-test/virtio}
N_TX=${N_TX:-10000} N_RX=${N_RX:-2000} N_FAULT=${N_FAULT:-20} RX_PPS=${RX_PPS:-5000}
N_MQ=${N_MQ:-400} MQ_TX=${MQ_TX:-100}
MAC=52:54:00:12:34:01 # run-vm.sh gives the virtio NIC this MAC

vm_args "[-v] [BUILD_DIR]" "$repo_root/build-test" -- "$@"

vm_need_rig

for t in cpio python3 cc; do
    command -v "$t" >/dev/null || skip "$t not found"
done
command -v tshark >/dev/null || skip "tshark not found (apt-get install tshark)"
for b in tools/usnet-pktgen tools/usnet-sink libusnet.a; do
    [ -e "$build/$b" ] || { echo "virtio.sh: $build/$b not built" >&2; exit 2; }
done

t_all=$(now)
mkdir -p "$work"
vm_get_kernel

# The guest helper links the static library, with the sanitizers if the
# build has them.
cflags=(-std=gnu11 -O2 -g -Wall -Wextra -Werror -I"$repo_root/include")
if grep -q '^USNET_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
    # shellcheck disable=SC2054 # one option, its commas included
    cflags+=(-fsanitize=address,undefined)
fi
# libusnet.a of an afxdp build needs libxdp and libbpf too (usnet.pc's
# Requires.private); none of its code runs here.
# shellcheck disable=SC2046 # one word per library
cc "${cflags[@]}" -o "$work/virtio-check" "$script_dir/guest/virtio-check.c" \
    "$build/libusnet.a" $(pkg-config --libs libxdp libbpf 2>/dev/null) -lpthread

# Multiqueue needs a TAP (root, /dev/net/tun) and a namespace for its far end.
mq_tap="" mq_ns=""
if [ "$N_MQ" -gt 0 ] && [ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] &&
   command -v ip >/dev/null && ip netns list >/dev/null 2>&1; then
    mq_tap="vnmq$$" mq_ns="virtio-mq-$$"
else
    N_MQ=0
fi
cat >"$work/virtio-test.conf" <<EOF
N_TX=$N_TX
N_RX=$N_RX
N_FAULT=$N_FAULT
N_MQ=$N_MQ
MQ_TX=$MQ_TX
EOF
t=$(now)
"$script_dir/mkinitramfs.sh" "$work/initramfs.cpio.gz" \
    --script "$script_dir/guest/virtio-test.sh" \
    --bin "$build/tools/usnet-pktgen" "$build/tools/usnet-sink" "$work/virtio-check" \
    --file "$work/virtio-test.conf=/etc/virtio-test.conf" --hugepages 128 >/dev/null
t_initrd=$(since "$t")

# Two free UDP ports: QEMU listens on lport (we send frames there) and
# sends to rport (nobody listens: the peer always accepts).
ports=$(python3 - <<'EOF'
import socket
s = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
for x in s:
    x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))
EOF
)
read -r lport rport <<<"$ports"

# send_frames COUNT PPS: usnet-pktgen style test frames (Ethernet/IPv4/UDP,
# valid checksums, payload = 64-bit big-endian sequence number from 0) into
# the netdev's socket, one datagram per frame.
send_frames() {
    python3 - "$lport" "$1" "$2" "$MAC" <<'EOF'
import socket, struct, sys, time
port, count, pps, mac = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
src, dst = bytes([198, 18, 0, 2]), bytes([198, 18, 0, 1])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t0 = time.monotonic()
for seq in range(count):
    payload = struct.pack("!Q", seq) + bytes(10)
    ulen = 8 + len(payload)
    udp = struct.pack("!HHHH", 1024, 9, ulen, 0) + payload
    uc = csum(src + dst + struct.pack("!BBH", 0, 17, ulen) + udp) or 0xffff
    udp = udp[:6] + struct.pack("!H", uc) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, seq & 0xffff, 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    eth = bytes.fromhex(mac.replace(":", "")) + bytes.fromhex("020000000009") + b"\x08\x00"
    sock.sendto(eth + ip + udp, ("127.0.0.1", port))
    if pps and seq % 10 == 9:
        lag = t0 + (seq + 1) / pps - time.monotonic()
        if lag > 0:
            time.sleep(lag)
EOF
}

log="$work/console.log"
# A log left from an earlier run would match the markers at once.
rm -rf "$work/pcap" "$log"
pcap_args=(--pcap "$work/pcap")
qemu_mq=()
if [ -n "$mq_tap" ]; then
    mkdir -p "$work/pcap"
    # shellcheck disable=SC2054 # commas belong to qemu's option syntax
    qemu_mq=(-netdev "tap,id=net-mq,ifname=$mq_tap,script=no,downscript=no,queues=2"
             -device "virtio-net-pci,disable-legacy=on,iommu_platform=on,netdev=net-mq,mq=on,vectors=6,bus=pcie.0,addr=0x6.0,mac=52:54:00:12:34:06,romfile=")
    # (filter-dump refuses multiqueue netdevs: tcpdump on the TAP instead)
fi
vm="" dump=""
cleanup() {
    [ -z "$vm" ] || kill "$vm" 2>/dev/null || true
    [ -z "$dump" ] || kill "$dump" 2>/dev/null || true
    [ -z "$mq_ns" ] || ip netns del "$mq_ns" 2>/dev/null || true
}
trap cleanup EXIT
t_vm0=$(now)
# shellcheck disable=SC2086 # QEMU_EXTRA: several arguments
# Every guest check that must PASS (virtio-mq only when its TAP exists).
expect="virtio-bind virtio-tx-send virtio-rx virtio-irq-wake virtio-iommu-fault"
expect+=" virtio-sigint virtio-reopen"
[ -z "$mq_tap" ] || expect+=" virtio-mq"
"$script_dir/run-vm.sh" "${verbose[@]+"${verbose[@]}"}" --initrd "$work/initramfs.cpio.gz" \
    --timeout 300 --log "$log" "${pcap_args[@]+"${pcap_args[@]}"}" --expect "$expect" \
    --net-virtio "udp:$rport:$lport" --net-e1000 none --net-e1000e none \
    -- "${qemu_mq[@]+"${qemu_mq[@]}"}" ${QEMU_EXTRA:-} >"$work/run-vm.out" 2>&1 &
vm=$!
if [ -n "$mq_tap" ]; then
    # QEMU creates the TAP at start, one queue after the other: move it
    # only once both are attached (tx-1 appears), or QEMU would create a
    # second device for queue 1. Its far end goes into our namespace, quiet
    # (no IPv6 autoconfiguration), so only our frames cross it.
    for _ in $(seq 1 200); do
        [ -e "/sys/class/net/$mq_tap/queues/tx-1" ] && break
        sleep 0.1
    done
    ip netns add "$mq_ns"
    ip link set "$mq_tap" netns "$mq_ns"
    ip netns exec "$mq_ns" sysctl -qw "net.ipv6.conf.$mq_tap.disable_ipv6=1"
    ip -n "$mq_ns" link set "$mq_tap" up
    timeout 300 ip netns exec "$mq_ns" tcpdump -i "$mq_tap" --immediate-mode -B 32768 -U -Z root -w "$work/pcap/mq.pcap" \
        2>"$work/tcpdump.err" &
    dump=$!
fi

# wait_mark NAME SECONDS: until the guest prints VIRTIO-MARK NAME
wait_mark() {
    local end=$((SECONDS + $2))
    while ! grep -q "VIRTIO-MARK $1" "$log" 2>/dev/null; do
        kill -0 "$vm" 2>/dev/null || return 1
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.2
    done
}
declare -A t_phase=()
if wait_mark rx-ready 200; then
    t=$(now); send_frames "$N_RX" "$RX_PPS"; t_phase[rx-send]=$(since "$t")
fi
if wait_mark wake-ready 120; then
    sleep 6
    send_frames 1 0
fi
if wait_mark fault-ready 120; then
    send_frames "$N_FAULT" 1000
fi
if wait_mark mq-ready 120 && [ -n "$mq_tap" ]; then
    # 16 UDP flows: the TAP spreads them over its queues by flow hash.
    ip netns exec "$mq_ns" python3 - "$mq_tap" "$N_MQ" <<'EOF'
import socket, struct, sys, time
dev, count = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))
for i in range(count):
    sport = 3000 + i % 16
    udp = struct.pack("!HHHH", sport, 9, 18, 0) + struct.pack("!Q", i) + bytes(2)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 38, i, 0, 64, 17, 0,
                     bytes([198, 18, 1, 2]), bytes([198, 18, 1, 1]))
    s.send(bytes.fromhex("525400123406" "020000000010" "0800") + ip + udp)
    if i % 10 == 9:
        time.sleep(0.002)
EOF
fi
vm_rc=0
wait "$vm" || vm_rc=$?
vm=""
if [ -n "$dump" ]; then
    kill -INT "$dump" 2>/dev/null || true
    wait "$dump" || true
    dump=""
fi
t_vm=$(since "$t_vm0")
cat "$work/run-vm.out"
results=$(grep -o 'VMTEST \(PASS\|FAIL\|SKIP\).*' "$work/run-vm.out" || true)
grep -a "^virtio: \|VIRTIO-INFO" "$log" | tr -d '\r' | sed 's/^/  guest: /' >&2 || true

# --- host-side checks of the capture ------------------------------------------
hfail=0
ginfo() { # KEY FIELD: a field of a VIRTIO-INFO line
    tr -d '\r' <"$log" | sed -n "s/.*VIRTIO-INFO $1 .*\\b$2=\\([^ ]*\\).*/\\1/p" | tail -n 1
}
if [ -s "$work/pcap/virtio.pcap" ]; then
    # Frames the guest sent, as "seq ip_status udp_status" (1 = good): runs
    # of sequence numbers restart at 0 with each pktgen.
    tshark -r "$work/pcap/virtio.pcap" -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE \
        -Y "eth.src == $MAC && udp" -T fields -e udp.payload -e ip.checksum.status \
        -e udp.checksum.status 2>/dev/null >"$work/tx-frames.txt" || true
    python3 - "$work/tx-frames.txt" "$N_TX" "$(ginfo sigint sent)" "$(ginfo reopen sent)" <<'EOF' || hfail=1
import sys
path, n_tx = sys.argv[1], int(sys.argv[2])
expect = {"virtio-tx-capture": n_tx}
try:
    expect["virtio-sigint-capture"] = int(sys.argv[3])
    expect["virtio-reopen-capture"] = int(sys.argv[4])
except ValueError:
    pass
runs, bad = [], 0
for line in open(path):
    f = line.split()
    if len(f) < 3 or len(f[0]) < 16:
        continue
    seq = int(f[0][:16], 16)
    if f[1] != "1" or f[2] != "1":
        bad += 1
    if seq == 0 or not runs:
        runs.append([])
    runs[-1].append(seq)
ok = True
for (name, n), run in zip(expect.items(), runs + [[]] * 3):
    if run == list(range(n)):
        print(f"VMTEST PASS {name}")
    else:
        ok = False
        desc = f"{len(run)} frames, first {run[:1]}, last {run[-1:]}" if run else "no frames"
        print(f"VMTEST FAIL {name}: expected sequence 0..{n - 1} in order, captured {desc}")
if bad:
    ok = False
    print(f"VMTEST FAIL virtio-tx-checksums: {bad} captured frames with a bad IPv4/UDP checksum")
elif runs:
    print("VMTEST PASS virtio-tx-checksums")
if len(runs) > len(expect):
    print(f"virtio.sh: note: {len(runs) - len(expect)} more runs in the capture than expected")
sys.exit(0 if ok else 1)
EOF
else
    echo "VMTEST FAIL virtio-tx-capture: no capture at $work/pcap/virtio.pcap"
    hfail=1
fi
if [ -n "$mq_tap" ] && [ -n "$(ginfo mq sent)" ]; then
    # The frames each TX queue sent carry UDP source port 2000 + queue.
    for q in 0 1; do
        n=$(tshark -r "$work/pcap/mq.pcap" -Y "eth.src == 52:54:00:12:34:06 && udp.srcport == $((2000 + q))" \
            2>/dev/null | wc -l)
        if [ "$n" -eq "$MQ_TX" ]; then
            echo "VMTEST PASS virtio-mq-capture-q$q"
        else
            echo "VMTEST FAIL virtio-mq-capture-q$q: $n frames from TX queue $q captured, expected $MQ_TX ($(grep dropped "$work/tcpdump.err" | tr '\n' ' '))"
            hfail=1
        fi
    done
fi

echo "virtio.sh: timings: initramfs ${t_initrd} s, VM run ${t_vm} s (tx $(ginfo tx ms) ms" \
     "at $(ginfo tx pps) pps, rx $(ginfo rx ms) ms, host send ${t_phase[rx-send]:-?} s," \
     "wake after $(ginfo wake woke_ms) ms, idle cpu $(ginfo idle-cpu permille) permille," \
     "mq rx q0 $(ginfo mq q0) q1 $(ginfo mq q1)," \
     "SIGINT exit $(ginfo sigint exit_ms) ms), total $(since "$t_all") s"
if [ "$vm_rc" -ne 0 ] || [ "$hfail" -ne 0 ]; then
    echo "virtio.sh: FAIL (run-vm.sh status $vm_rc, log $log)"
    exit 1
fi
[ -n "$results" ] || { echo "virtio.sh: FAIL (no results)"; exit 1; }
echo "virtio.sh: PASS"
