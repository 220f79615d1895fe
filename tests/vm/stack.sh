#!/usr/bin/env bash
# VM test: usnet's stack on pci: answers the Linux kernel. One VM boot; in
# the guest, usnet-udpecho runs on the virtio-net (0000:00:03.0) and the
# e1000e (0000:00:05.0) NIC through VFIO (guest side:
# tests/vm/guest/stack-test.sh). Each NIC's host side is a TAP that this
# script moves into a namespace of its own with 198.18.N.1/24 (N = 41, 43),
# whose kernel, once the guest prints "STACK-READY NIC":
#   stack-ping-NIC  pings 198.18.N.2: 10 of 10, then 3 of 3 with 4000 bytes
#                   (usnet reassembles the requests and fragments the replies);
#   stack-udp-NIC   sends 1, 1472 and 8000-byte UDP datagrams to port 7 from
#                   a kernel socket, each back unchanged.
# The guest then checks usnet-udpecho's counters (stack-NIC).
#
# usage: stack.sh [-v] [BUILD_DIR]    (default <repo>/build-test)
# Needs root (TAP devices, namespaces), ping, python3, QEMU (TCG).
# Environment: USNET_VM_CACHE, USNET_VM_WORK. Exit: 0 pass, 1 fail, 77 skip.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$script_dir/lib.sh" # repo_root, USNET_VM_CACHE, skip, vm_args ...
work=${USNET_VM_WORK:-$repo_root/build/vm-test/stack}
vm_args "[-v] [BUILD_DIR]" "$repo_root/build-test" -- "$@"
vm_need_rig

[ "$(id -u)" = 0 ] || skip "needs root (TAP devices, network namespaces)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
command -v ping >/dev/null || skip "ping not found"
command -v python3 >/dev/null || skip "python3 not found"
[ -x "$build/tools/usnet-udpecho" ] || { echo "stack.sh: $build/tools/usnet-udpecho not built" >&2; exit 2; }

mkdir -p "$work"
vm_get_kernel
"$script_dir/mkinitramfs.sh" "$work/initramfs.cpio.gz" --script "$script_dir/guest/stack-test.sh" \
    --bin "$build/tools/usnet-udpecho" --hugepages 64 >/dev/null

nics=(virtio e1000e)
declare -A tap=([virtio]=stv$$ [e1000e]=stee$$)
declare -A ns=([virtio]=stack-vm-v-$$ [e1000e]=stack-vm-ee-$$)
declare -A net=([virtio]=41 [e1000e]=43)
vm="" peers=()
cleanup() {
    local p
    for p in "${peers[@]+"${peers[@]}"}"; do kill "$p" 2>/dev/null || true; done
    if [ -n "$vm" ]; then kill -TERM "$vm" 2>/dev/null || true; wait "$vm" 2>/dev/null || true; fi
    for nic in "${nics[@]}"; do ip netns del "${ns[$nic]}" 2>/dev/null || true; done
}
trap cleanup EXIT
for nic in "${nics[@]}"; do vm_netns_add "${ns[$nic]}"; done

log=$work/console.log
rm -f "$log"
"$script_dir/run-vm.sh" "${verbose[@]+"${verbose[@]}"}" --initrd "$work/initramfs.cpio.gz" \
    --timeout 170 --log "$log" --net-virtio "tap:${tap[virtio]}" --net-e1000 none \
    --net-e1000e "tap:${tap[e1000e]}" >"$work/results.txt" 2>&1 &
vm=$!

# The kernel's side of one NIC: ping, big ping, UDP; VMTEST lines on stdout.
peer() {
    local nic=$1 n=${net[$1]} out
    if out=$(timeout 60 ip netns exec "${ns[$nic]}" ping -c 10 -i 0.1 -W 2 "198.18.$n.2" 2>&1) &&
        grep -q "10 packets transmitted, 10 received" <<<"$out" &&
        out2=$(timeout 60 ip netns exec "${ns[$nic]}" ping -c 3 -i 0.3 -W 3 -s 4000 "198.18.$n.2" 2>&1) &&
        grep -q "3 packets transmitted, 3 received" <<<"$out2"; then
        echo "VMTEST PASS stack-ping-$nic"
    else
        echo "VMTEST FAIL stack-ping-$nic: $(tail -n 2 <<<"${out2:-$out}" | tr '\n' ' ')"
    fi
    if out=$(timeout 60 ip netns exec "${ns[$nic]}" python3 - "198.18.$n.2" <<'PY' 2>&1
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for n in (1, 1472, 8000):
    data = bytes((k * 13 + n) & 0xff for k in range(n))
    s.sendto(data, (sys.argv[1], 7))
    back, peer = s.recvfrom(70000)
    if back != data:
        sys.exit(f"{n}-byte datagram: {len(back)} bytes back, different")
print("1, 1472 and 8000 bytes echoed")
PY
    ); then
        echo "VMTEST PASS stack-udp-$nic"
    else
        echo "VMTEST FAIL stack-udp-$nic: $out"
    fi
}

host_out=$work/host.txt
: >"$host_out"
declare -A moved=() started=()
for nic in "${nics[@]}"; do
    if vm_move_tap "${tap[$nic]}" "${ns[$nic]}" "198.18.${net[$nic]}.1/24" "$vm" 2>"$work/ip.err"; then
        moved[$nic]=1
    else
        echo "VMTEST FAIL stack-host-$nic: TAP ${tap[$nic]} not moved: $(cat "$work/ip.err")" >>"$host_out"
    fi
done
deadline=$((SECONDS + 150))
while :; do
    waiting=0
    for nic in "${nics[@]}"; do
        [ -n "${moved[$nic]:-}" ] && [ -z "${started[$nic]:-}" ] || continue
        if grep -aq "^STACK-READY $nic"$'\r\\?$' "$log" 2>/dev/null; then
            peer "$nic" >>"$host_out" &
            peers+=($!)
            started[$nic]=1
        elif grep -aq "^STACK-FAILED $nic"$'\r\\?$' "$log" 2>/dev/null; then
            started[$nic]=failed
        else
            waiting=1
        fi
    done
    [ "$waiting" = 1 ] && kill -0 "$vm" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ] || break
    sleep 0.2
done
for p in "${peers[@]+"${peers[@]}"}"; do wait "$p" || true; done
peers=()
for nic in "${nics[@]}"; do
    [ "${started[$nic]:-}" = 1 ] || [ -z "${moved[$nic]:-}" ] ||
        echo "VMTEST FAIL stack-host-$nic: the guest never reported usnet-udpecho ready" >>"$host_out"
done
rc=0
wait "$vm" || rc=$?
vm=""
cat "$work/results.txt" "$host_out"
tr -d '\r' <"$log" | grep '^STACK json' || true
if [ "$rc" -ne 0 ] || grep -q "^VMTEST FAIL" "$host_out" ||
    [ "$(grep -c '^VMTEST PASS' "$host_out")" -ne 4 ]; then
    echo "stack.sh: FAIL (run-vm.sh status $rc, log $log)"
    exit 1
fi
echo "stack.sh: PASS"
