# Guest side of tests/vm/ping.sh (busybox sh, run as /test.sh).
#
# ping: each of the three NICs run-vm.sh provides has a TAP on the host,
# moved into a namespace of its own where the kernel has 198.18.N.1/24:
#   virtio-net 0000:00:03.0 -> 198.18.1.2     e1000 0000:00:04.0 -> 198.18.2.2
#   e1000e     0000:00:05.0 -> 198.18.3.2
# usnet-echo answers for 198.18.N.2 on each (ARP and ICMP echo) until it has
# sent 20 echo replies; "PING-READY NIC" tells the host to start pinging
# (it judges ping's result, this script what usnet-echo counted).
#
# fwd-virtio: four more virtio-net NICs wired by QEMU hubs:
#   hub 1: A 0000:00:06.0 (usnet-pktgen) <-> B 0000:00:07.0 (usnet-fwd, port 0)
#   hub 2: C 0000:00:08.0 (usnet-fwd, port 1) <-> D 0000:00:09.0 (usnet-sink)
# pktgen sends N frames at RATE pps from A to D's MAC; fwd forwards them from
# B to C; the sink on D must get exactly N: every sequence number 0..N-1
# once, none lost, duplicated or with a bad checksum; fwd must count N
# forwarded and no drops. Order is reported, not required: when B's RX ring
# runs full, QEMU's hub can deliver a newer frame to B before an older one
# it had queued (net/net.c: qemu_flush_or_purge_queued_packets() flushes
# the hub's other ports before the NIC's own incoming queue, and
# qemu_net_queue_send() delivers directly while packets are queued). A
# filter-dump on B's netdev, which sees frames before that queue, has them
# in order; with Linux's virtio_net driving B instead of usnet, an
# AF_PACKET receiver sees the same reordering once A outpaces it.
#
# Kernel command line: pingtest.n=N pingtest.rate=RATE (defaults 4000, 1000).
# shellcheck disable=SC1091 # installed by mkinitramfs.sh (guest/vmtest.sh)
. /lib/vmtest.sh

N=4000 RATE=1000
read -r cmdline </proc/cmdline
for arg in $cmdline; do
    case "$arg" in
        pingtest.n=*) N=${arg#*=} ;;
        pingtest.rate=*) RATE=${arg#*=} ;;
    esac
done

T=/tmp/ping
mkdir -p $T
NICS="virtio e1000 e1000e"
# nic_bdf NIC, nic_net NIC: its PCI address (run-vm.sh) and N of 198.18.N.0/24.
nic_bdf() {
    case "$1" in virtio) echo 0000:00:03.0 ;; e1000) echo 0000:00:04.0 ;; *) echo 0000:00:05.0 ;; esac
}
nic_net() {
    case "$1" in virtio) echo 1 ;; e1000) echo 2 ;; *) echo 3 ;; esac
}
A=0000:00:06.0 B=0000:00:07.0 C=0000:00:08.0 D=0000:00:09.0
MAC_D=52:54:00:12:34:09

# report NAME: a tool's JSON summary on the console, for the host's log.
report() { echo "PING json $1 $(cat "$T/$1.json" 2>/dev/null)"; }
errtail() { tail -n 2 "$T/$1.err" 2>/dev/null | tr '\n' ' '; }

# bind BDF: to vfio-pci, and its /dev/vfio/GROUP is there.
bind() {
    vmtest_pci_bind "$1" vfio-pci || return 1
    _g=$(vmtest_pci_iommu_group "$1") || return 1
    vmtest_wait_for "/dev/vfio/$_g"
}

# ---- ping: usnet-echo on the three NICs at once --------------------------------
t0=$(vmtest_now)
ready=""
for nic in $NICS; do
    bdf=$(nic_bdf "$nic")
    if ! bind "$bdf"; then
        vmtest_fail "bind-$nic" "cannot bind $bdf to vfio-pci (driver '$(vmtest_pci_driver "$bdf")')"
        echo "PING-FAILED $nic"
        continue
    fi
    # Bounded twice: -t, and timeout(1) in case it hangs.
    timeout 60 usnet-echo -p "pci:$bdf" --ip "198.18.$(nic_net "$nic").2" -n 20 -t 45 --json \
        >"$T/echo-$nic.json" 2>"$T/echo-$nic.err" &
    echo $! >"$T/echo-$nic.pid"
    ready="$ready $nic"
done
started=""
for nic in $ready; do
    if vmtest_wait_text "$T/echo-$nic.err" "answering for" 300; then
        started="$started $nic"
    else
        vmtest_fail "echo-$nic" "usnet-echo did not start: $(errtail "echo-$nic")"
        echo "PING-FAILED $nic"
    fi
done
# QEMU's e1000 models hold received frames back for a second after RCTL is
# written (hw/net/e1000.c flush timer); nothing is lost at ping's rate, but
# the first replies would be late.
usleep 1200000
echo "PING at $(vmtest_now) echo started in $(vmtest_elapsed "$t0") s"
for nic in $started; do
    echo "PING-READY $nic"
done
for nic in $started; do
    vmtest_wait_pid "$(cat "$T/echo-$nic.pid")" 60
    rc=$?
    report "echo-$nic"
    j=$T/echo-$nic.json
    if [ "$rc" -eq 0 ] && [ "$(vmtest_json_get "$j" stop)" = count ] &&
        [ "$(vmtest_json_get "$j" icmp_replies)" = 20 ] && [ "$(vmtest_json_get "$j" tx_drops)" = 0 ] &&
        [ "$(vmtest_json_get "$j" arp_replies)" -ge 1 ] 2>/dev/null &&
        [ "$(vmtest_json_get "$j" arp_replies)" = "$(vmtest_json_get "$j" arp_requests)" ]; then
        vmtest_pass "echo-$nic"
    else
        vmtest_fail "echo-$nic" "usnet-echo status $rc: $(cat "$j" 2>/dev/null) $(errtail "echo-$nic")"
    fi
done
echo "PING time ping $(vmtest_elapsed "$t0")"

# ---- fwd-virtio: A -> hub 1 -> B =usnet-fwd=> C -> hub 2 -> D ----------------
t0=$(vmtest_now)
for bdf in $A $B $C $D; do
    if ! bind "$bdf"; then
        vmtest_fail fwd-virtio "cannot bind $bdf to vfio-pci (driver '$(vmtest_pci_driver "$bdf")')"
        exit 0
    fi
done
timeout 100 usnet-sink -p "pci:$D" -n "$N" --expect "$N" -t 60 --idle-timeout 5000 --json \
    >"$T/fwd-sink.json" 2>"$T/fwd-sink.err" &
sink_pid=$!
timeout 100 usnet-fwd -p "pci:$B" -p "pci:$C" -t 90 --json >"$T/fwd.json" 2>"$T/fwd.err" &
fwd_pid=$!
if ! vmtest_wait_text "$T/fwd-sink.err" "receiving on" 300 || ! vmtest_wait_text "$T/fwd.err" "forwarding between" 300; then
    vmtest_fail fwd-virtio "sink or fwd did not start: [$(errtail fwd-sink)] [$(errtail fwd)]"
    kill -INT "$sink_pid" "$fwd_pid" 2>/dev/null
    vmtest_wait_pid "$sink_pid" 10
    vmtest_wait_pid "$fwd_pid" 10
    exit 0
fi
timeout 100 usnet-pktgen -p "pci:$A" -n "$N" -r "$RATE" --dst-mac "$MAC_D" \
    --src-ip 198.18.5.1 --dst-ip 198.18.5.2 -q --json >"$T/fwd-gen.json" 2>"$T/fwd-gen.err"
grc=$?
vmtest_wait_pid "$sink_pid" 75
src=$?
kill -INT "$fwd_pid"
vmtest_wait_pid "$fwd_pid" 10
frc=$?
report fwd-gen
report fwd-sink
report fwd
echo "PING time fwd $(vmtest_elapsed "$t0")"
why=""
[ "$grc" -eq 0 ] && [ "$(vmtest_json_get "$T/fwd-gen.json" sent)" = "$N" ] ||
    why="$why pktgen status $grc, sent '$(vmtest_json_get "$T/fwd-gen.json" sent)': $(errtail fwd-gen);"
[ "$src" -eq 0 ] || why="$why sink status $src: $(errtail fwd-sink);"
echo "PING fwd reordered $(vmtest_json_get "$T/fwd-sink.json" reordered) (pktgen retried $(vmtest_json_get "$T/fwd-gen.json" tx_full) times on a full TX ring: B was not taking frames)"
# The top-level "forwarded" and "drops" (the directions have their own drops).
fwded=$(sed -n 's/.*"forwarded":\([0-9]*\),"drops":\([0-9]*\),.*/\1 \2/p' "$T/fwd.json")
[ "$frc" -eq 0 ] && [ "$fwded" = "$N 0" ] ||
    why="$why fwd status $frc, forwarded and dropped '$fwded' (want '$N 0');"
if [ -z "$why" ]; then
    vmtest_pass fwd-virtio
else
    vmtest_fail fwd-virtio "$why"
fi
exit 0
