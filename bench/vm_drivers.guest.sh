# Guest side of bench/vm_drivers.sh (busybox sh, run as /test.sh).
#
# For each NIC model (virtio-net, e1000, e1000e) three NICs:
#   X  the NIC under TX test, and the output of the forwarding test; its
#      host side takes everything (virtio: a UDP socket netdev; e1000 and
#      e1000e: a QEMU hub with nothing else on it)
#   A  the forwarding input (same model), on a QEMU hub with
#   G  the generator: usnet-pktgen on usnet's driver, the same for every
#      forwarder; a virtio-net NIC unless the host chose GEN=same
# and ROUNDS rounds, each with every contender once (the order rotates by
# round):
#   usnet   usnet-pktgen -p pci:X (TX); usnet-fwd -p pci:A -p pci:X (fwd)
#   dpdk    dpdk-testpmd --forward-mode=txonly on X; --forward-mode=io on A, X
#   kernel  X (and A) bound to the kernel's driver, interfaces up:
#           usnet-pktgen -p afpacket:ethX; usnet-fwd -p afpacket:ethA -p afpacket:ethX
# plus any EXTRA contenders (usnet with other spec options or another
# pktgen/fwd binary). Each measurement: the contender is started, (fwd)
# then the generator, 1 s of warm-up, then SECS seconds measured:
#   usnet   the tool's own per-second totals (frames the TX queue took),
#           from the line 1 s into the run (TX) or the first line 1 s
#           after the generator started (fwd) to the line SECS s later
#   dpdk    testpmd's "show port stats all" Tx-pps of X, SECS s after a
#           first "show" (it computes the rate from its counters and TSC)
#   kernel  the interface's tx_packets over SECS s (what the kernel driver
#           handed the NIC; AF_PACKET may lose frames on a full qdisc)
# Output: "BENCH nic test who round pps" lines (pps FAILED if the
# measurement failed, with BENCH-LOG lines saying why), and "BENCH-MARK
# begin|end" around each measured window: the host samples QEMU's CPU
# time when it sees them.
# shellcheck disable=SC1091 # installed by mkinitramfs.sh
. /lib/vmtest.sh
# SECS ROUNDS SIZE NICS TESTS WHO EXTRA PMD_DIR, and per model (v, e, x):
# NIC_<m>="name X A G mac_A kernel_driver pmd"
. /etc/vm-drivers.conf

T=/tmp/bench
mkdir -p $T /var/run/dpdk
# A write to testpmd's FIFO after it died must fail, not kill the script.
trap '' PIPE
# No IPv6 chatter (router solicitations, DAD) on the kernel's interfaces.
echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6 2>/dev/null
echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null

now() { cut -d' ' -f1 /proc/uptime; } # seconds, 10 ms resolution
# The window of the measurement that the next BENCH line reports.
mark() { echo "BENCH-MARK $1" >&2; }
# a per-second line of usnet-pktgen or usnet-fwd on stderr
LINE="^usnet-[a-z]*: [0-9.]* s |"
# Contenders print their result on stdout; everything else goes to stderr
# (the console too).
log() { echo "BENCH-LOG $*" >&2; }
# wait_lines FILE REGEX COUNT TENTHS: until FILE has COUNT lines matching REGEX
wait_lines() {
    _i=0
    while [ "$(grep -c "$2" "$1" 2>/dev/null)" -lt "$3" ]; do
        [ "$_i" -ge "$4" ] && return 1
        usleep 100000
        _i=$((_i + 1))
    done
}
# stop_pid PID [SIGNAL]: signal it and wait for it (10 s, then KILL)
stop_pid() {
    kill "-${2:-INT}" "$1" 2>/dev/null
    _i=0
    while kill -0 "$1" 2>/dev/null && [ $_i -lt 100 ]; do
        usleep 100000
        _i=$((_i + 1))
    done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
# json_get FILE KEY: the first number or string of KEY in a JSON line
json_get() { sed -n "s/.*\"$2\": *\"\{0,1\}\([^,\"}]*\).*/\1/p" "$1" | head -n 1; }
# line_rate FILE LABEL K1 K2: frames per second of meter LABEL from the
# K1-th to the K2-th per-second line of a usnet tool's stderr ("usnet-x: T s
# | LABEL P pps ..., total N pkts ...": the totals and times of both lines).
line_rate() {
    grep "$LINE" "$1" | awk -v l="$2" -v k1="$3" -v k2="$4" '
        NR >= k1 && NR <= k2 {
            n = split($0, seg, " [|] ")
            for (i = 2; i <= n; i++)
                if (index(seg[i], l " ") == 1) {
                    sub(/.*total /, "", seg[i]); split(seg[i], w, " ")
                    split(seg[1], h, " ")
                    if (NR == k1) { t1 = h[2]; n1 = w[1] }
                    t2 = h[2]; n2 = w[1]
                }
        }
        END { if (t2 > t1) printf "%.0f", (n2 - n1) / (t2 - t1) }'
}
# testpmd_pps LOG PORT FIELD: the last "FIELD:" (Rx-pps, Tx-pps) of PORT
# in testpmd's "show port stats" output
testpmd_pps() {
    awk -v p="$2" -v f="$3:" '
        /NIC statistics for port/ { for (i = 1; i < NF; i++) if ($i == "port") cur = $(i + 1) }
        $1 == f && cur == p { v = $2 }
        END { print v }' "$1"
}
# ifcount IF: tx_packets of a kernel interface
ifcount() { cat "/sys/class/net/$1/statistics/tx_packets"; }
# counter_rate C0 T0 C1 T1
counter_rate() { awk -v a="$1" -v b="$2" -v c="$3" -v d="$4" 'BEGIN { if (d > b) printf "%.0f", (c - a) / (d - b) }'; }

# ---- binding --------------------------------------------------------------
bind_vfio() { # BDF
    [ "$(vmtest_pci_driver "$1")" = vfio-pci ] && return 0
    _g=$(vmtest_pci_iommu_group "$1") || return 1
    vmtest_pci_bind "$1" vfio-pci && vmtest_wait_for "/dev/vfio/$_g"
}
# bind_kernel BDF DRIVER: the kernel's driver, interface up with carrier;
# prints the interface name
bind_kernel() {
    if [ "$(vmtest_pci_driver "$1")" != "$2" ]; then
        vmtest_pci_bind "$1" "$2" || return 1
    fi
    _i=0 _if=""
    while [ -z "$_if" ] && [ $_i -lt 100 ]; do
        # virtio: the netdev hangs off the virtio device under the PCI one
        for _n in "/sys/bus/pci/devices/$1"/net/* "/sys/bus/pci/devices/$1"/virtio*/net/*; do
            [ -e "$_n" ] && { _if=${_n##*/}; break; }
        done
        [ -n "$_if" ] || usleep 100000
        _i=$((_i + 1))
    done
    [ -n "$_if" ] || return 1
    ip link set "$_if" up || return 1
    _i=0
    while [ "$(cat "/sys/class/net/$_if/carrier" 2>/dev/null)" != 1 ] && [ $_i -lt 150 ]; do
        usleep 100000
        _i=$((_i + 1))
    done
    [ "$(cat "/sys/class/net/$_if/carrier" 2>/dev/null)" = 1 ] || return 1
    echo "$_if"
}

# ---- the generator (fwd tests) ---------------------------------------------
gen_pid=""
gen_start() { # BDF DST_MAC: usnet-pktgen on cpu 0 until gen_stop; 0 once it sends
    rm -f $T/gen.err $T/gen.json
    timeout $((SECS + 300)) taskset -c 0 usnet-pktgen -p "pci:$1" -s "$SIZE" -b 32 \
        --dst-mac "$2" --json >$T/gen.json 2>$T/gen.err </dev/null &
    gen_pid=$!
    vmtest_wait_text $T/gen.err "sending" 300
}
gen_stop() { # prints the generator's average rate
    [ -n "$gen_pid" ] || return 0
    stop_pid "$gen_pid"
    gen_pid=""
    json_get $T/gen.json pps | cut -d. -f1
}

# ---- dpdk-testpmd -------------------------------------------------------------
# testpmd_run PMD "BDF..." MODE [HOOK]: testpmd in interactive mode on
# cpus 0-1 (forwarding on cpu 1), commands through a FIFO: once the
# prompt is there (ports started), HOOK (the generator), start, 1 s,
# show port stats all, SECS s, show port stats all, stop, quit. The log
# is $T/testpmd.log.
testpmd_run() {
    _pmd=$1 _devs=$2 _mode=$3 _hook=${4:-}
    _a=""
    for _d in $_devs; do _a="$_a -a $_d"; done
    rm -f $T/testpmd.log $T/testpmd.in
    mkfifo $T/testpmd.in
    # shellcheck disable=SC2086 # _a: several arguments
    timeout $((SECS + 240)) dpdk-testpmd -l 0-1 -n 1 --in-memory --no-telemetry \
        --log-level=lib.eal:error -d "$PMD_DIR/librte_mempool_ring.so" -d "$PMD_DIR/$_pmd" $_a -- \
        --forward-mode="$_mode" --txpkts="$SIZE" --burst=32 --nb-cores=1 --txq=1 --rxq=1 \
        --total-num-mbufs=16384 -i <$T/testpmd.in >$T/testpmd.log 2>&1 &
    _tp=$!
    exec 3>$T/testpmd.in
    _i=0
    while ! grep -q "testpmd>" $T/testpmd.log && kill -0 $_tp 2>/dev/null && [ $_i -lt 1200 ]; do
        usleep 100000
        _i=$((_i + 1))
    done
    if grep -q "testpmd>" $T/testpmd.log; then
        [ -z "$_hook" ] || $_hook
        echo start >&3
        sleep 1
        echo "show port stats all" >&3
        mark begin
        sleep "$SECS"
        echo "show port stats all" >&3
        mark end
        echo stop >&3
        usleep 500000
    fi
    echo quit >&3
    exec 3>&-
    _i=0
    while kill -0 $_tp 2>/dev/null && [ $_i -lt 300 ]; do
        usleep 100000
        _i=$((_i + 1))
    done
    kill -KILL $_tp 2>/dev/null
    wait $_tp 2>/dev/null
    [ "${DEBUG:-0}" = 0 ] || sed 's/^/BENCH-LOG testpmd: /' $T/testpmd.log >&2
}

# ---- the contenders -----------------------------------------------------------
# Each prints one number (pps) or nothing on failure; the reason goes to
# BENCH-LOG lines.

tx_usnet() { # X [SPEC_OPTS [PKTGEN]]
    rm -f $T/tx.err $T/tx.json
    USNET_LOG=info timeout $((SECS + 60)) taskset -c 1 "${3:-usnet-pktgen}" -p "pci:$1$2" -s "$SIZE" -b 32 \
        -t "$((SECS + 2)).5" --json >$T/tx.json 2>$T/tx.err </dev/null &
    _p=$!
    r="" ok=0
    if wait_lines $T/tx.err "$LINE" 1 300; then
        # The window is slept through, as for testpmd and the kernel: no
        # polling (a fork per check) on the other vCPU while it runs.
        mark begin
        sleep "$SECS"
        mark end
        ok=1
    fi
    wait $_p
    [ $ok = 0 ] || r=$(line_rate $T/tx.err tx 1 $((SECS + 1)))
    [ -n "$r" ] || log "usnet-pktgen pci:$1$2: $(tail -n 2 $T/tx.err | tr '\n' ' ')"
    # the driver's own close line (virtio: frames and notifications)
    log "tx usnet $1$2: $(grep -m 1 "notifications\|hardware counters" $T/tx.err)"
    echo "$r"
}

tx_dpdk() { # X PMD
    testpmd_run "$2" "$1" txonly
    r=$(testpmd_pps $T/testpmd.log 0 Tx-pps)
    [ "${r:-0}" != 0 ] || { log "testpmd txonly $1: $(tail -n 5 $T/testpmd.log | tr '\n' ' ')"; r=""; }
    echo "$r"
}

# counter_window IF: IF's tx_packets rate over SECS s, between marks
counter_window() {
    mark begin
    c0=$(ifcount "$1") t0=$(now)
    sleep "$SECS"
    c1=$(ifcount "$1") t1=$(now)
    mark end
    counter_rate "$c0" "$t0" "$c1" "$t1"
}

tx_kernel() { # IF
    rm -f $T/tx.err $T/tx.json
    timeout $((SECS + 60)) taskset -c 1 usnet-pktgen -p "afpacket:$1" -s "$SIZE" -b 32 \
        -t "$((SECS + 3))" --json >$T/tx.json 2>$T/tx.err </dev/null &
    _p=$!
    r=""
    if wait_lines $T/tx.err "$LINE" 1 300; then
        r=$(counter_window "$1")
    fi
    wait $_p
    [ -n "$r" ] || log "usnet-pktgen afpacket:$1: $(tail -n 2 $T/tx.err | tr '\n' ' ')"
    log "tx kernel $1: pktgen $(json_get $T/tx.json pps) pps taken, tx_errors $(json_get $T/tx.json tx_errors)"
    echo "$r"
}

# fwd_usnet_run SPEC_A SPEC_X G MAC_A [IF_X [FWD]]: usnet-fwd on cpu 1, then
# the generator; after 1 s of warm-up, the rate from fwd's own per-second
# lines (the first one after the warm-up to the one SECS s later), or from
# IF_X's tx_packets when given (the kernel path)
fwd_usnet_run() {
    rm -f $T/fwd.err $T/fwd.json
    timeout $((SECS + 300)) taskset -c 1 "${6:-usnet-fwd}" -p "$1" -p "$2" --json \
        >$T/fwd.json 2>$T/fwd.err </dev/null &
    _f=$!
    r=""
    if ! vmtest_wait_text $T/fwd.err "forwarding between" 300; then
        log "usnet-fwd $1 $2 did not start: $(tail -n 2 $T/fwd.err | tr '\n' ' ')"
    elif ! gen_start "$3" "$4"; then
        log "generator on $3 did not start: $(tail -n 2 $T/gen.err | tr '\n' ' ')"
    else
        sleep 1
        if [ -n "${5:-}" ]; then
            r=$(counter_window "$5")
        else
            k1=$(($(grep -c "$LINE" $T/fwd.err) + 1))
            if wait_lines $T/fwd.err "$LINE" "$k1" 30; then
                mark begin
                sleep "$SECS" # no polling in the window (see tx_usnet)
                mark end
                wait_lines $T/fwd.err "$LINE" $((k1 + SECS)) 30 &&
                    r=$(line_rate $T/fwd.err "0>1" "$k1" $((k1 + SECS)))
            fi
        fi
    fi
    offered=$(gen_stop)
    stop_pid $_f
    [ -n "$r" ] || log "usnet-fwd $1 $2: $(tail -n 2 $T/fwd.err | tr '\n' ' ')"
    log "fwd $1 -> $2: generator offered ${offered:-?} pps; fwd $(json_get $T/fwd.json forwarded) forwarded, $(json_get $T/fwd.json drops) dropped, input port drops $(json_get $T/fwd.json port_drops)"
    echo "$r"
}

# shellcheck disable=SC2317 # called by testpmd_run as its HOOK
fwd_dpdk_hook() { gen_start "$GEN" "$GEN_MAC" || log "generator did not start"; }
fwd_dpdk() { # A X PMD G MAC_A
    GEN=$4 GEN_MAC=$5
    testpmd_run "$3" "$1 $2" io fwd_dpdk_hook
    offered=$(gen_stop)
    # testpmd numbers the ports in PCI order; only one direction carries
    # traffic, so the forwarded rate is the sum of both ports' Tx-pps.
    r=$(($(testpmd_pps $T/testpmd.log 0 Tx-pps) + $(testpmd_pps $T/testpmd.log 1 Tx-pps)))
    log "fwd dpdk $1 -> $2: generator offered ${offered:-?} pps; Rx-pps $(($(testpmd_pps $T/testpmd.log 0 Rx-pps) + $(testpmd_pps $T/testpmd.log 1 Rx-pps)))"
    [ "${r:-0}" != 0 ] || { log "testpmd io $1 $2: $(tail -n 5 $T/testpmd.log | tr '\n' ' ')"; r=""; }
    echo "$r"
}

# ---- one model ------------------------------------------------------------------
report() { # nic test who round pps
    echo "BENCH $1 $2 $3 $4 ${5:-FAILED}"
}
testing() { case " $TESTS " in *" $1 "*) return 0 ;; esac; return 1; }

# one_round WHO: WHO's measurements of this round (the variables of run_model)
one_round() {
    label=$1 opts="" tbin="" fbin=""
    case "$1" in
        extra:*) # extra:LABEL:SPEC_OPTS[:PKTGEN[:FWD]]
            rest=${1#extra:}; label=${rest%%:*}; rest=${rest#"$label"}; rest=${rest#:}
            opts=${rest%%:*}; rest=${rest#"$opts"}; rest=${rest#:}
            tbin=${rest%%:*}; rest=${rest#"$tbin"}; fbin=${rest#:} ;;
    esac
    if [ "$1" = kernel ]; then
        if ! ifx=$(bind_kernel "$X" "$KDRV"); then
            log "$name: cannot bring up $X on $KDRV"
            testing tx && report "$name" tx kernel "$r"
            testing fwd && report "$name" fwd kernel "$r"
            return 0
        fi
        testing tx && report "$name" tx kernel "$r" "$(tx_kernel "$ifx")"
        if testing fwd; then
            if ifa=$(bind_kernel "$A" "$KDRV"); then
                report "$name" fwd kernel "$r" \
                    "$(fwd_usnet_run "afpacket:$ifa" "afpacket:$ifx" "$G" "$MAC_A" "$ifx")"
            else
                log "$name: cannot bring up $A on $KDRV"
                report "$name" fwd kernel "$r"
            fi
        fi
        return 0
    fi
    if ! { bind_vfio "$X" && bind_vfio "$A"; }; then
        vmtest_fail "bind-$name" "cannot bind $X and $A to vfio-pci"
        return 1
    fi
    if testing tx; then
        if [ "$1" = dpdk ]; then
            report "$name" tx dpdk "$r" "$(tx_dpdk "$X" "$PMD")"
        else
            report "$name" tx "$label" "$r" "$(tx_usnet "$X" "$opts" "$tbin")"
        fi
    fi
    if testing fwd; then
        if [ "$1" = dpdk ]; then
            report "$name" fwd dpdk "$r" "$(fwd_dpdk "$A" "$X" "$PMD" "$G" "$MAC_A")"
        else
            report "$name" fwd "$label" "$r" \
                "$(fwd_usnet_run "pci:$A$opts" "pci:$X$opts" "$G" "$MAC_A" "" "$fbin")"
        fi
    fi
}

run_model() { # name X A G MAC_A kernel_driver pmd
    name=$1 X=$2 A=$3 G=$4 MAC_A=$5 KDRV=$6 PMD=$7
    bind_vfio "$G" || { vmtest_fail "bind-$name" "cannot bind $G to vfio-pci"; return; }
    # contenders: WHO, then the EXTRA ones of this model
    who_list=$WHO nwho=0
    for e in $EXTRA; do
        case "$e" in "$name":*) who_list="$who_list extra:${e#*:}" ;; esac
    done
    for w in $who_list; do nwho=$((nwho + 1)); done
    r=1
    while [ $r -le "$ROUNDS" ]; do
        # the order rotates: round 1 starts with the first contender,
        # round 2 with the second, ...
        first=$(((r - 1) % nwho)) i=0 from_first="" before_first=""
        for w in $who_list; do
            if [ $i -ge $first ]; then from_first="$from_first $w"; else before_first="$before_first $w"; fi
            i=$((i + 1))
        done
        for w in $from_first $before_first; do
            one_round "$w" || return
        done
        r=$((r + 1))
    done
    vmtest_pass "bench-$name"
}

log "guest clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
log "config: SECS=$SECS ROUNDS=$ROUNDS SIZE=$SIZE NICS='$NICS' TESTS='$TESTS' WHO='$WHO' EXTRA='$EXTRA'"
# What usnet-pktgen itself can build and hand over in this VM, on cpu 1,
# with no device behind the port: the ceiling of every usnet TX number.
timeout $((SECS + 30)) taskset -c 1 usnet-pktgen -p null: -s "$SIZE" -b 32 -t "$SECS" --json \
    >$T/null.json 2>/dev/null </dev/null
log "usnet-pktgen on null: (no device): $(json_get $T/null.json pps) pps"
# shellcheck disable=SC2154 # NIC_v, NIC_e, NIC_x come from the configuration
for m in $NICS; do
    case "$m" in
        virtio) cfg=$NIC_v ;;
        e1000) cfg=$NIC_e ;;
        e1000e) cfg=$NIC_x ;;
        *) vmtest_fail bench "unknown NIC model $m"; continue ;;
    esac
    # shellcheck disable=SC2086 # cfg: the fields
    run_model $cfg
done
exit 0
