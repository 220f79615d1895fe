# Guest side of tests/vm/virtio.sh (busybox sh, run as /test.sh): the
# virtio-net driver through VFIO. The host side reads the VIRTIO-MARK lines
# to know when to send frames, and the VIRTIO-INFO lines to check what it
# captured; results are VMTEST lines.
# shellcheck disable=SC1091 # installed by mkinitramfs.sh / virtio.sh
. /lib/vmtest.sh
. /etc/virtio-test.conf # N_TX N_RX N_FAULT N_MQ MQ_TX

mark() { echo "VIRTIO-MARK $1"; }
info() { echo "VIRTIO-INFO $*"; }
now_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
# jfield FILE KEY: a number or string from a one-line JSON object
jfield() { sed -n "s/.*\"$2\": *\"\{0,1\}\([^,\"}]*\).*/\1/p" "$1"; }
# cpu_ticks PID: utime + stime in clock ticks (proc(5), fields 14 and 15)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# bind_vfio BDF: to vfio-pci; 0 when /dev/vfio/GROUP is there
bind_vfio() {
    _g=$(vmtest_pci_iommu_group "$1") || return 1
    vmtest_pci_bind "$1" vfio-pci && vmtest_wait_for "/dev/vfio/$_g"
}

# run-vm.sh puts the virtio NIC at 00:03.0; virtio.sh adds a multiqueue one
# at 00:06.0 when it can create its TAP.
bdf=0000:00:03.0
if [ "$(cat /sys/bus/pci/devices/$bdf/vendor 2>/dev/null):$(cat /sys/bus/pci/devices/$bdf/device 2>/dev/null)" != 0x1af4:0x1041 ]; then
    vmtest_fail virtio-bind "no 1af4:1041 device at $bdf"
    exit 0
fi
if bind_vfio "$bdf"; then
    vmtest_pass virtio-bind
else
    vmtest_fail virtio-bind "cannot bind $bdf to vfio-pci (driver '$(vmtest_pci_driver "$bdf")')"
    exit 0
fi
spec="pci:$bdf"

# --- (a) TX: exactly N_TX frames; the host checks its capture ------------------
t0=$(now_ms)
out=$(timeout 120 usnet-pktgen -p "$spec" -n "$N_TX" -q --json 2>/tmp/pktgen.err)
rc=$?
echo "virtio: pktgen: $out $(tail -n 3 /tmp/pktgen.err)"
sent=$(printf '%s\n' "$out" | sed -n 's/.*"sent": *\([0-9]*\).*/\1/p')
if [ "$rc" -eq 0 ] && [ "$sent" = "$N_TX" ]; then
    vmtest_pass virtio-tx-send
else
    vmtest_fail virtio-tx-send "usnet-pktgen exited $rc, sent '$sent' of $N_TX: $(tail -n 2 /tmp/pktgen.err)"
fi
info "tx sent=${sent:-0} ms=$(($(now_ms) - t0)) pps=$(printf '%s\n' "$out" | sed -n 's/.*"pps": *\([0-9.]*\).*/\1/p')"

# --- (b) RX: the host sends N_RX frames, usnet-sink must get exactly those -----
rm -f /tmp/sink.err /tmp/sink.json
timeout 120 usnet-sink -p "$spec" -n "$N_RX" --expect "$N_RX" --idle-timeout 5000 -t 90 --json \
    >/tmp/sink.json 2>/tmp/sink.err &
pid=$!
if vmtest_wait_text /tmp/sink.err "receiving on" 300; then
    t0=$(now_ms)
    mark rx-ready
    wait "$pid"
    rc=$?
    echo "virtio: sink: $(cat /tmp/sink.json) $(tail -n 2 /tmp/sink.err)"
    if [ "$rc" -eq 0 ] && [ "$(jfield /tmp/sink.json unique)" = "$N_RX" ]; then
        vmtest_pass virtio-rx
    else
        vmtest_fail virtio-rx "usnet-sink exited $rc: $(cat /tmp/sink.json) $(tail -n 2 /tmp/sink.err)"
    fi
    info "rx received=$(jfield /tmp/sink.json unique) ms=$(($(now_ms) - t0))"
else
    kill "$pid" 2>/dev/null
    mark rx-ready # let the host go on
    vmtest_fail virtio-rx "usnet-sink did not start: $(tail -n 3 /tmp/sink.err)"
fi

# --- (d) interrupts: an idle usnet-sink sleeps; a waiting receiver wakes ------
rm -f /tmp/sink.err
timeout 60 usnet-sink -p "$spec" -t 9 -q 2>/tmp/sink.err &
pid=$!
sleep 2 # opened by now (-q: no "receiving on" line)
if [ -d "/proc/$pid" ]; then
    c0=$(cpu_ticks "$pid") t0=$(now_ms)
    sleep 5
    c1=$(cpu_ticks "$pid") t1=$(now_ms)
    # ticks are 1/100 s (USER_HZ): percent = ticks * 10 * 100 / ms
    pct10=$(((c1 - c0) * 10000 / (t1 - t0)))
    # Logged, not judged: CPU time depends on the host's load (bench/).
    info "idle-cpu ticks=$((c1 - c0)) ms=$((t1 - t0)) permille=$pct10"
else
    vmtest_fail virtio-idle-sink "usnet-sink did not start: $(tail -n 3 /tmp/sink.err)"
fi
wait "$pid"

rm -f /tmp/check.out
# event_idx=0: VIRTQ_AVAIL_F_NO_INTERRUPT instead of used_event (2.7.7)
timeout 60 virtio-check wake "$spec,event_idx=0" 30 >/tmp/check.out 2>&1 &
pid=$!
if vmtest_wait_text /tmp/check.out "ready" 300; then
    mark wake-ready # the host sends one frame 6 s later
    wait "$pid"
    sed 's/^/virtio: /' /tmp/check.out
    line=$(grep woke_ms /tmp/check.out)
    woke=$(echo "$line" | sed -n 's/.*woke_ms=\(-\{0,1\}[0-9]*\).*/\1/p')
    cpu=$(echo "$line" | sed -n 's/.*cpu_ms=\([0-9]*\).*/\1/p')
    rcvd=$(echo "$line" | sed -n 's/.*received=\([0-9]*\).*/\1/p')
    # When it woke is logged, not judged: the frame's arrival is the check
    # (a receiver that never woke reports received=0, woke_ms=-1 after 30 s).
    info "wake woke_ms=${woke:--1} cpu_ms=${cpu:-0}"
    if [ -n "$woke" ] && [ "$woke" -ge 0 ] && [ "${rcvd:-0}" -ge 1 ]; then
        vmtest_pass virtio-irq-wake
    else
        vmtest_fail virtio-irq-wake "not woken by the frame the host sent after ready: $line"
    fi
else
    kill "$pid" 2>/dev/null
    mark wake-ready
    vmtest_fail virtio-irq-wake "virtio-check did not start: $(tail -n 3 /tmp/check.out)"
fi

# --- (e) IOMMU: the first RX buffer posted at an IOVA outside every mapping ---
rm -f /tmp/check.out
dmar0=$(dmesg | grep -c "DMAR: \[DMA")
USNET_FAULT_BAD_IOVA=1 timeout 60 virtio-check rx "$spec" "$N_FAULT" 40 >/tmp/check.out 2>&1 &
pid=$!
if vmtest_wait_text /tmp/check.out "ready" 300; then
    mark fault-ready # the host sends N_FAULT frames
    wait "$pid"
    sed 's/^/virtio: /' /tmp/check.out
    line=$(grep "received=" /tmp/check.out)
    usleep 200000
    dmar=$(dmesg | grep "DMAR: \[DMA" | tail -n +$((dmar0 + 1)) | grep -c "00:03.0")
    dmesg | grep -A1 "DMAR: \[DMA" | tail -n 2 | sed 's/^/virtio: dmesg: /'
    info "fault $line dmar_faults=$dmar"
    case "$line" in
        *"received=$((N_FAULT - 1)) "*"link=down"*) ok=1 ;;
        *) ok=0 ;;
    esac
    errs=$(echo "$line" | sed -n 's/.*rx_errors=\([0-9]*\).*/\1/p')
    if [ "$ok" = 1 ] && [ "${errs:-0}" -ge 1 ] && [ "$dmar" -ge 1 ] &&
        grep -q "IOMMU blocked the DMA; the buffer usnet owns is untouched" /tmp/check.out; then
        vmtest_pass virtio-iommu-fault
    else
        vmtest_fail virtio-iommu-fault "expected $((N_FAULT - 1)) frames, rx_errors >= 1, link down, a DMAR fault for 00:03.0 and an untouched buffer; got: $line, $dmar DMAR faults"
    fi
else
    kill "$pid" 2>/dev/null
    mark fault-ready
    vmtest_fail virtio-iommu-fault "virtio-check did not start: $(tail -n 3 /tmp/check.out)"
fi

# --- (f) SIGINT, then the device opens again ------------------------------------
rm -f /tmp/pktgen.err
# event_idx=0 from here: kicks follow VIRTQ_USED_F_NO_NOTIFY (2.7.10)
timeout 60 usnet-pktgen -p "$spec,event_idx=0" -t 40 --json >/tmp/pktgen.json 2>/tmp/pktgen.err &
pid=$!
vmtest_wait_text /tmp/pktgen.err "sending" 300
sleep 2
# busybox timeout execs the program: $pid is usnet-pktgen itself
kill -INT "$pid"
t0=$(now_ms)
wait "$pid"
rc=$?
t1=$(now_ms)
sent=$(jfield /tmp/pktgen.json sent)
stop=$(jfield /tmp/pktgen.json stop)
echo "virtio: pktgen (SIGINT): $(cat /tmp/pktgen.json) $(tail -n 2 /tmp/pktgen.err)"
info "sigint sent=${sent:-0} exit_ms=$((t1 - t0))"
if [ "$rc" -eq 0 ] && [ "$stop" = signal ] && [ "${sent:-0}" -gt 0 ]; then
    vmtest_pass virtio-sigint
else
    vmtest_fail virtio-sigint "usnet-pktgen exited $rc after SIGINT (stop '$stop', sent '$sent')"
fi
out=$(timeout 60 usnet-pktgen -p "$spec,event_idx=0" -n 100 -q --json 2>/tmp/pktgen.err)
rc=$?
sent=$(printf '%s\n' "$out" | sed -n 's/.*"sent": *\([0-9]*\).*/\1/p')
info "reopen sent=${sent:-0}"
if [ "$rc" -eq 0 ] && [ "$sent" = 100 ]; then
    vmtest_pass virtio-reopen
else
    vmtest_fail virtio-reopen "usnet-pktgen after SIGINT exited $rc, sent '$sent': $(tail -n 2 /tmp/pktgen.err)"
fi
# --- multiqueue: 2 queue pairs on the TAP-backed NIC --------------------------
mq=0000:00:06.0
if [ "$N_MQ" -eq 0 ] || [ ! -e /sys/bus/pci/devices/$mq ]; then
    vmtest_skip virtio-mq "no multiqueue virtio-net at $mq (virtio.sh adds it when it can create a TAP: root)"
    mark mq-ready
elif ! bind_vfio "$mq"; then
    vmtest_fail virtio-mq "cannot bind $mq to vfio-pci"
    mark mq-ready
else
    rm -f /tmp/check.out
    timeout 90 virtio-check mq "pci:$mq" 2 "$N_MQ" 40 "$MQ_TX" >/tmp/check.out 2>&1 &
    pid=$!
    if vmtest_wait_text /tmp/check.out "ready" 300; then
        mark mq-ready # the host sends N_MQ frames in 16 flows
        wait "$pid"
        sed 's/^/virtio: /' /tmp/check.out
        q0=$(sed -n 's/.*rx q0=\([0-9]*\) q1=\([0-9]*\).*/\1/p' /tmp/check.out)
        q1=$(sed -n 's/.*rx q0=\([0-9]*\) q1=\([0-9]*\).*/\2/p' /tmp/check.out)
        sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' /tmp/check.out)
        info "mq q0=${q0:-0} q1=${q1:-0} sent=${sent:-0}"
        if [ $((${q0:-0} + ${q1:-0})) -eq "$N_MQ" ] && [ "${q0:-0}" -gt 0 ] && [ "${q1:-0}" -gt 0 ] &&
            [ "${sent:-0}" -eq $((2 * MQ_TX)) ]; then
            vmtest_pass virtio-mq
        else
            vmtest_fail virtio-mq "expected $N_MQ frames spread over both RX queues and $((2 * MQ_TX)) sent: q0=$q0 q1=$q1 sent=$sent: $(tail -n 2 /tmp/check.out)"
        fi
    else
        kill "$pid" 2>/dev/null
        mark mq-ready
        vmtest_fail virtio-mq "virtio-check did not start: $(tail -n 3 /tmp/check.out)"
    fi
fi
exit 0
