# shellcheck shell=bash
# Shared by the host-side VM test scripts (tests/vm/*.sh); source it:
#   . "$script_dir/lib.sh"
# The guest side has its own library, tests/vm/guest/vmtest.sh.

# vm_pcap_seq_check TAG NAME PCAP FILTER N: in QEMU's pcap PCAP, the UDP
# frames tshark's display FILTER selects are exactly N, their payloads
# starting with the sequence numbers 0..N-1 (8 bytes, big endian) in order,
# every IPv4 and UDP checksum good (tshark: 1 = good). Prints
# "TAG pcap NAME: ..." and "VMTEST PASS|FAIL NAME"; on a failure sets the
# caller's host_fail=1.
# shellcheck disable=SC2034 # host_fail is the caller's
vm_pcap_seq_check() {
    local tag=$1 name=$2 file=$3 filter=$4 n=$5 out count bad misorder first
    if [ ! -s "$file" ]; then
        echo "VMTEST FAIL $name: no pcap $file"; host_fail=1; return
    fi
    out=$(tshark -r "$file" -Y "$filter && udp" \
        -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE \
        -T fields -e ip.checksum.status -e udp.checksum.status -e udp.payload 2>/dev/null |
        awk '
            function hex(s,   i, v) {
                v = 0
                for (i = 1; i <= length(s); i++)
                    v = v * 16 + index("0123456789abcdef", substr(tolower(s), i, 1)) - 1
                return v
            }
            { count++
              if ($1 != 1 || $2 != 1) bad++
              seq = hex(substr($3, 1, 16))
              if (seq != expect) { if (!misorder) first = "frame " count " has seq " seq " (want " expect ")"; misorder++ }
              expect = seq + 1 }
            END { printf "%d %d %d %s", count, bad, misorder, first }')
    read -r count bad misorder first <<<"$out"
    echo "$tag pcap $name: $count frames ($filter), $bad bad checksums, $misorder out of sequence $first"
    if [ "$count" = "$n" ] && [ "$bad" = 0 ] && [ "$misorder" = 0 ]; then
        echo "VMTEST PASS $name"
    else
        echo "VMTEST FAIL $name: $count frames (want $n), $bad bad checksums, $misorder out of sequence $first"
        host_fail=1
    fi
}

# vm_netns_add NS: a new network namespace NS for a TAP's far end, with
# IPv6 off (devices moved in later take the namespace's defaults, so only
# ARP and IPv4 cross the TAP) and lo up. Exits 77 (SKIP) if namespaces
# cannot be created; call it as a plain command, so that set -e covers
# the rest.
vm_netns_add() {
    ip netns add "$1" || { echo "SKIP: cannot create a network namespace"; exit 77; }
    ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1
    ip -n "$1" link set lo up
}
