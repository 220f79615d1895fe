# Guest side of bench/e1000_vs_testpmd.sh (busybox sh, run as /test.sh).
# For the e1000 (0000:00:04.0) and the e1000e (0000:00:05.0), ROUNDS
# alternating rounds of: usnet-pktgen for SECS seconds, then dpdk-testpmd
# --forward-mode=txonly for SECS seconds, both sending SIZE-byte frames in
# bursts of 32 through the same device bound to vfio-pci. Prints
# "BENCH nic round usnet_pps dpdk_pps" lines.
# shellcheck disable=SC1091 # installed by mkinitramfs.sh (guest/vmtest.sh)
. /lib/vmtest.sh

SECS=5 ROUNDS=3 SIZE=60
PMDS=/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0 # copied there by mkinitramfs.sh --lib
read -r cmdline </proc/cmdline
for arg in $cmdline; do
    case "$arg" in
        bench.secs=*) SECS=${arg#*=} ;;
        bench.rounds=*) ROUNDS=${arg#*=} ;;
    esac
done
T=/tmp/bench
mkdir -p $T /var/run/dpdk

for bdf in 0000:00:04.0 0000:00:05.0; do
    vmtest_pci_bind "$bdf" vfio-pci || { vmtest_fail bind "$bdf"; exit 0; }
    vmtest_wait_for "/dev/vfio/$(vmtest_pci_iommu_group "$bdf")" || { vmtest_fail bind "$bdf"; exit 0; }
done

# usnet: pktgen's own rate over its -t window (frames the TX queue took).
run_usnet() { # run_usnet BDF -> pps on stdout
    timeout $((SECS + 30)) usnet-pktgen -p "pci:$1" -t "$SECS" -s $SIZE -b 32 -q --json \
        >$T/pktgen.json 2>$T/pktgen.err
    sed -n 's/.*"pps":\([0-9.]*\).*/\1/p' $T/pktgen.json
}

# DPDK: testpmd's Tx-pps "since last show" over SECS seconds, after 1 s of
# warm-up (the em PMD reads the device's GPTC for it).
run_dpdk() { # run_dpdk BDF -> pps on stdout
    rm -f $T/testpmd.log
    {
        i=0
        while ! grep -q "testpmd>" $T/testpmd.log 2>/dev/null && [ $i -lt 600 ] &&
            ! grep -q "exiting with code" $T/testpmd.log 2>/dev/null; do
            usleep 100000
            i=$((i + 1))
        done
        echo start
        sleep 1
        echo "show port stats 0"
        sleep "$SECS"
        echo "show port stats 0"
        echo stop
        sleep 1
        echo quit
    } | timeout $((SECS + 90)) dpdk-testpmd -l 0-1 -n 1 -a "$1" --file-prefix bench \
        -d "$PMDS/librte_mempool_ring.so.23" -d "$PMDS/librte_net_e1000.so.23" \
        --log-level=lib.eal:error -- --forward-mode=txonly --txpkts=$SIZE --burst=32 \
        --nb-cores=1 --total-num-mbufs=8192 -i >$T/testpmd.log 2>&1
    grep "Tx-pps:" $T/testpmd.log | tail -n 1 | awk '{ print $2 }'
}

for nic in e1000:0000:00:04.0 e1000e:0000:00:05.0; do
    name=${nic%%:*} bdf=${nic#*:}
    r=1
    while [ $r -le "$ROUNDS" ]; do
        u=$(run_usnet "$bdf")
        d=$(run_dpdk "$bdf")
        echo "BENCH $name $r ${u:-FAILED} ${d:-FAILED}"
        [ -n "$u" ] || tail -n 3 $T/pktgen.err | sed 's/^/BENCH-LOG pktgen: /'
        [ -n "$d" ] || tail -n 15 $T/testpmd.log | sed 's/^/BENCH-LOG testpmd: /'
        r=$((r + 1))
    done
done
vmtest_pass bench
exit 0
