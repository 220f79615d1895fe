# Guest side of tests/vm/afxdp.sh (busybox sh, run as /test.sh).
#
# The kernel's own drivers keep the NICs (virtio_net for 0000:00:03.0,
# e1000e for 0000:00:05.0); the host wires the two together on one QEMU hub.
# usnet's afxdp: port runs on top of each: usnet-pktgen on one, usnet-sink on
# the other, exactly N frames each way with sequence checks. The port's own
# log lines (USNET_LOG=info) say which XDP mode (native or generic) and which
# AF_XDP mode (zero-copy or copy) each driver got; they go to the console as
# "AFXDP-MODE NIC: ..." for the host to report.
#
# Kernel command line: afxdptest.n=N (default 5000).
# shellcheck disable=SC1091 # installed by mkinitramfs.sh (guest/vmtest.sh)
. /lib/vmtest.sh

N=5000
read -r cmdline </proc/cmdline
for arg in $cmdline; do
    case "$arg" in afxdptest.n=*) N=${arg#*=} ;; esac
done
T=/tmp/afxdp
mkdir -p $T
# The kernel interface of a PCI NIC (virtio's sits under virtioN/).
ifname() { ls /sys/bus/pci/devices/$1/net/ /sys/bus/pci/devices/$1/virtio*/net/ 2>/dev/null | grep -v : | grep . | head -1; }
V=$(ifname 0000:00:03.0)
E=$(ifname 0000:00:05.0)
[ -n "$V" ] || { vmtest_fail afxdp-setup "virtio-net 0000:00:03.0 has no kernel interface"; exit 1; }
[ -n "$E" ] || { vmtest_fail afxdp-setup "e1000e 0000:00:05.0 has no kernel interface"; exit 1; }
for i in $V $E; do ip link set "$i" up; done
# libxdp opens its dispatcher from the file system; the host script puts it
# where libxdp looks (the multiarch bpf directory).
# e1000e needs its link up before it passes frames.
for _ in $(seq 50); do
    [ "$(cat /sys/class/net/$E/carrier 2>/dev/null)" = 1 ] && break
    sleep 0.1
done

# xfer NAME FROM TO: pktgen on afxdp:FROM -> sink on afxdp:TO, exactly N.
xfer() {
    name=$1 from=$2 to=$3
    USNET_LOG=info usnet-sink -p "afxdp:$to,prog=all" -n "$N" --idle-timeout 5000 -t 120 \
        --expect "$N" >$T/$name.sink.out 2>$T/$name.sink.err &
    sp=$!
    vmtest_wait_text $T/$name.sink.err "receiving on" 300 ||
        { vmtest_fail "$name" "sink did not start: $(tail -3 $T/$name.sink.err)"; kill $sp; return; }
    # To the receiver's own MAC: the NICs filter unicast frames by MAC.
    USNET_LOG=info usnet-pktgen -p "afxdp:$from,prog=all" -n "$N" -r 2000 -q \
        --dst-mac "$(cat /sys/class/net/$to/address)" \
        >$T/$name.gen.out 2>$T/$name.gen.err
    gst=$?
    wait $sp
    sst=$?
    grep "afxdp:.*mode" $T/$name.gen.err $T/$name.sink.err | sed 's/.*usnet: info: /AFXDP-MODE /'
    if [ $gst -eq 0 ] && [ $sst -eq 0 ]; then
        vmtest_pass "$name"
    else
        vmtest_fail "$name" "pktgen $gst, sink $sst: $(tail -2 $T/$name.sink.err | tr '\n' ' ') $(tail -2 $T/$name.gen.err | tr '\n' ' ')"
    fi
}
xfer afxdp-virtio-to-e1000e "$V" "$E"
xfer afxdp-e1000e-to-virtio "$E" "$V"
