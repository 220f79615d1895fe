# shellcheck shell=bash
# Shared by the host-side VM test scripts (tests/vm/*.sh); source it:
#   . "$script_dir/lib.sh"
# The guest side has its own library, tests/vm/guest/vmtest.sh.
#
# Sourcing it sets repo_root, exports USNET_VM_CACHE (run-vm.sh's kernel
# cache; default <repo>/build/vm-cache) and defines skip (exit 77), now and
# since (seconds, for timings).

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export USNET_VM_CACHE=${USNET_VM_CACHE:-$repo_root/build/vm-cache}

skip() { echo "SKIP: $*"; exit 77; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

# vm_need_rig: what every VM boot needs (qemu with TCG, a static busybox for
# the initramfs, cpio), or skip naming the package.
vm_need_rig() {
    command -v qemu-system-x86_64 >/dev/null ||
        skip "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
    qemu-system-x86_64 -accel help 2>/dev/null | grep -qx tcg ||
        skip "qemu-system-x86_64 has no TCG accelerator"
    if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
        skip "no static busybox (apt-get install busybox-static)"
    fi
    command -v cpio >/dev/null || skip "cpio not found (apt-get install cpio)"
}

# vm_get_kernel: the guest kernel in USNET_VM_CACHE (get-kernel.sh, whose
# messages go to stderr); skip if it cannot be had, exit 1 if that failed.
vm_get_kernel() {
    local rc=0
    "$repo_root/tests/vm/get-kernel.sh" "$USNET_VM_CACHE" >/dev/null || rc=$?
    [ "$rc" -ne 77 ] || skip "no guest kernel (see the get-kernel.sh message above)"
    [ "$rc" -eq 0 ] || { echo "$(basename "$0"): get-kernel.sh failed ($rc)" >&2; exit 1; }
}

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

# vm_move_tap TAP NS ADDR/PREFIX QEMU_PID: once QEMU has created and
# attached TAP (30 s at most, while QEMU runs; a TAP moved before that would
# be created anew in the root namespace, design.md), move it into NS, give
# it ADDR and bring it up. Fails, saying why on stderr, if it cannot.
vm_move_tap() {
    for _ in $(seq 1 300); do
        [ -e "/sys/class/net/$1" ] && break
        kill -0 "$4" 2>/dev/null || break
        sleep 0.1
    done
    ip link set "$1" netns "$2" || return 1
    ip -n "$2" addr add "$3" dev "$1" && ip -n "$2" link set "$1" up
}

# vm_args USAGE DEFAULT_BUILD [-X VAR]... -- ARGS...: the arguments of a
# host-side test script (not run-vm.sh's or mkinitramfs.sh's, which take
# options of their own kinds), in any order:
#   -v, --verbose   verbose=(-v) (run-vm.sh copies the console to stderr)
#   -h, --help      the script's header comment, exit 0
#   -X N            for each -X VAR given: VAR=N, a positive whole number
#   BUILD_DIR       build (made absolute); DEFAULT_BUILD when not given:
#                   "" if the script needs one, "-" if it takes none.
# Anything else exits 2 with "usage: SCRIPT USAGE" and the problem.
vm_args() {
    local usage=$1 dflt=$2 prog
    local -A var=()
    prog=$(basename "$0")
    shift 2
    while [ "$1" != -- ]; do var[$1]=$2; shift 2; done
    shift
    vm_usage() { echo "$prog: $*" >&2; echo "usage: $prog $usage" >&2; exit 2; }
    verbose=() build=""
    while [ $# -gt 0 ]; do
        case "$1" in
            -v|--verbose) verbose=(-v) ;;
            -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
            -*)
                [ -n "${var[$1]:-}" ] || vm_usage "unknown option $1"
                [[ $# -ge 2 && "$2" =~ ^[0-9]+$ && "$2" -gt 0 ]] || vm_usage "$1 takes a positive number"
                printf -v "${var[$1]}" '%s' "$2"
                shift ;;
            *)
                [ "$dflt" != - ] || vm_usage "takes no BUILD_DIR"
                [ -z "$build" ] || vm_usage "one BUILD_DIR, not $build and $1"
                build=$1 ;;
        esac
        shift
    done
    [ "$dflt" = - ] && return 0
    local dir=${build:-$dflt}
    [ -n "$dir" ] || vm_usage "needs a BUILD_DIR"
    build=$(cd "$dir" 2>/dev/null && pwd) || vm_usage "build directory $dir not found"
}
