# Guest side of tests/vm/stack.sh (busybox sh, run as /test.sh).
#
# usnet-udpecho (usnet's stack) on two of the NICs run-vm.sh provides, each
# bound to vfio-pci; the host's kernel is the peer, through a TAP in a
# namespace of its own with 198.18.N.1/24:
#   virtio-net 0000:00:03.0 -> 198.18.41.2     e1000e 0000:00:05.0 -> 198.18.43.2
# "STACK-READY NIC" tells the host to start: it pings 198.18.N.2 (10 of 10,
# then 3 of 3 with 4000 bytes: reassembled and fragmented by usnet) and
# sends UDP datagrams of 1, 1472 and 8000 bytes to port 7, each of which
# must come back (the host judges that: stack-ping-NIC, stack-udp-NIC).
# usnet-udpecho stops after echoing those 3 datagrams (-n 3); this script
# then checks its JSON: 3 echoed, 13 echo replies, ARP answered, no drop
# counter but the ones the host's own traffic explains (stack-NIC).
# shellcheck disable=SC1091 # installed by mkinitramfs.sh (guest/vmtest.sh)
. /lib/vmtest.sh

T=/tmp/stack
mkdir -p $T
NICS="virtio e1000e"
nic_bdf() { case "$1" in virtio) echo 0000:00:03.0 ;; *) echo 0000:00:05.0 ;; esac; }
nic_net() { case "$1" in virtio) echo 41 ;; *) echo 43 ;; esac; }
errtail() { tail -n 2 "$T/$1.err" 2>/dev/null | tr '\n' ' '; }

started=""
for nic in $NICS; do
    bdf=$(nic_bdf "$nic")
    if ! vmtest_pci_bind "$bdf" vfio-pci || ! g=$(vmtest_pci_iommu_group "$bdf") ||
        ! vmtest_wait_for "/dev/vfio/$g"; then
        vmtest_fail "stack-$nic" "cannot bind $bdf to vfio-pci (driver '$(vmtest_pci_driver "$bdf")')"
        echo "STACK-FAILED $nic"
        continue
    fi
    timeout 100 usnet-udpecho -p "pci:$bdf" --ip "198.18.$(nic_net "$nic").2/24" -n 3 -t 90 --json \
        >"$T/$nic.json" 2>"$T/$nic.err" &
    echo $! >"$T/$nic.pid"
    started="$started $nic"
done
ready=""
for nic in $started; do
    if vmtest_wait_text "$T/$nic.err" "echoing UDP port" 300; then
        ready="$ready $nic"
    else
        vmtest_fail "stack-$nic" "usnet-udpecho did not start: $(errtail "$nic")"
        echo "STACK-FAILED $nic"
    fi
done
# QEMU's e1000 models hold received frames back for a second after RCTL is
# written (see ping-test.sh).
usleep 1200000
for nic in $ready; do
    echo "STACK-READY $nic"
done
for nic in $ready; do
    vmtest_wait_pid "$(cat "$T/$nic.pid")" 95
    rc=$?
    j=$T/$nic.json
    echo "STACK json $nic $(cat "$j" 2>/dev/null)"
    if [ "$rc" -eq 0 ] && [ "$(vmtest_json_get "$j" stop)" = count ] && [ "$(vmtest_json_get "$j" echoed)" = 3 ] &&
        [ "$(vmtest_json_get "$j" echo_errors)" = 0 ] && [ "$(vmtest_json_get "$j" icmp_tx_echo_reply)" = 13 ] &&
        [ "$(vmtest_json_get "$j" ip_reasm_ok)" = 4 ] && [ "$(vmtest_json_get "$j" arp_tx_reply)" -ge 1 ] 2>/dev/null &&
        [ "$(vmtest_json_get "$j" udp_bad_csum)" = 0 ] && [ "$(vmtest_json_get "$j" ip_bad_csum)" = 0 ]; then
        vmtest_pass "stack-$nic"
    else
        vmtest_fail "stack-$nic" "usnet-udpecho status $rc: $(cat "$j" 2>/dev/null) $(errtail "$nic")"
    fi
done
exit 0
